"""Assemble one method as a self-contained MMPose ``projects/`` folder, for a
pull request to MMPose.

    python -m mmpose_ext.tools.make_upstream_project NAME OUT_DIR [--force]

NAME is one of poseur, tokenpose, coord_cls, scai. The folder is written to
``OUT_DIR/projects/NAME/``, so OUT_DIR can be an MMPose checkout: the folder
then sits where MMPose keeps its projects, and from OUT_DIR
``export PYTHONPATH=$(pwd):$PYTHONPATH`` and
``mim train mmpose projects/NAME/configs/CONFIG.py`` train it.

What it holds:

- ``models/``: the method's package (``mmpose_ext/models/NAME``), every module
  of ours it imports, transitively (read from the import statements, so the
  set follows the code), and every module of ours that registers a ``type``
  its configs or its copied code name. Paths keep mmpose_ext's layout without
  the leading ``models/`` (``mmpose_ext/models/common/finite.py`` ->
  ``models/common/finite.py``, ``mmpose_ext/runtime/seeding.py`` ->
  ``models/runtime/seeding.py``); imports of ours become relative imports of
  the copy. A package of which only some modules are needed gets an
  ``__init__.py`` importing only those. ``models/__init__.py`` imports every
  registered class, so that
  ``custom_imports = dict(imports=['projects.NAME.models'])`` registers all of
  them.
- ``configs/``: ``configs/NAME/`` (configs and metafile) with
  ``custom_imports`` pointed at ``projects.NAME.models``; ``mmpose::`` bases
  are kept. Configs that read files of this repository (the bundled fixtures,
  through ``{{ fileDirname }}``) are left out, and so are configs inheriting
  one; the tool lists them.
- ``README.md``: ``projects/NAME/README.md`` with ``mmpose_ext`` code paths and
  ``custom_imports`` rewritten.

Every file starts with a comment saying which file of mmpose-ext it was
generated from: edit that file, not the copy, and run the tool again. A
non-empty ``OUT_DIR/projects/NAME`` is only replaced with ``--force``. Errors
are one line on stderr, exit 2.
"""
import argparse
import ast
import posixpath
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

from mmpose_ext.resources import package_root

PACKAGE = 'mmpose_ext'
PACKAGE_DIR = package_root()
# The source checkout: projects/ and configs/ are read from it, not from the
# installed package.
REPO = PACKAGE_DIR.parent
PROJECTS = ('coord_cls', 'poseur', 'scai', 'tokenpose')
# The name of the source in generated text (``mmpose_ext`` itself must not
# remain in the copy: a reviewer's grep for it finds only dangling code).
SOURCE_NAME = 'mmpose-ext'
# What a copied module may import at module level besides the standard
# library: MMPose's own requirements (runtime and mminstall).
MMPOSE_DEPENDENCIES = frozenset({
    'PIL', 'cv2', 'json_tricks', 'matplotlib', 'mmcv', 'mmdet', 'mmengine',
    'mmpose', 'munkres', 'numpy', 'scipy', 'torch', 'torchvision',
    'xtcocotools'
})
# Configs that read files of this repository are left out.
REPO_FILE_MARKERS = ('fileDirname', 'data/fixtures', 'data/synthetic')
CONFIG_SUFFIXES = ('.py', '.yml', '.yaml')


class UpstreamError(Exception):
    """A project that cannot be assembled; the message says why."""


@dataclass
class Assembly:
    """A project in memory: ``files`` maps a path relative to ``projects/NAME``
    to its text."""
    name: str
    files: Dict[str, str] = field(default_factory=dict)
    # source module (dotted) -> path in the copy, for every copied module
    modules: Dict[str, str] = field(default_factory=dict)
    configs: List[str] = field(default_factory=list)
    left_out: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


# ----------------------------------------------------------------- sources


class Source:
    """mmpose_ext's modules, parsed once: where each lives and what each
    registers."""

    def __init__(self, root: Path = PACKAGE_DIR):
        self.root = root
        self.paths: Dict[str, Path] = {}
        for path in sorted(root.rglob('*.py')):
            if '__pycache__' in path.parts:
                continue
            parts = [PACKAGE, *path.relative_to(root).with_suffix('').parts]
            if parts[-1] == '__init__':
                parts.pop()
            self.paths['.'.join(parts)] = path
        self._trees: Dict[str, ast.Module] = {}
        self._texts: Dict[str, str] = {}
        self.registered = self._registrations()

    def is_package(self, module: str) -> bool:
        return self.paths[module].name == '__init__.py'

    def text(self, module: str) -> str:
        if module not in self._texts:
            self._texts[module] = self.paths[module].read_text(
                encoding='utf-8')
        return self._texts[module]

    def tree(self, module: str) -> ast.Module:
        if module not in self._trees:
            self._trees[module] = ast.parse(
                self.text(module), str(self.paths[module]))
        return self._trees[module]

    def relative_path(self, module: str) -> str:
        """The file of ``module``, inside the package (``models/...``)."""
        return self.paths[module].relative_to(self.root).as_posix()

    def where(self, module: str, line: Optional[int] = None) -> str:
        """``mmpose_ext/path[:line]`` of ``module``, for messages."""
        return f'{PACKAGE}/{self.relative_path(module)}' + (f':{line}'
                                                            if line else '')

    def _registrations(self) -> Dict[str, Tuple[str, str]]:
        """Registered type name -> (defining module, class or function
        name)."""
        found = {}
        for module in self.paths:
            for name, obj in registered_objects(self.tree(module)):
                found[name] = (module, obj)
        return found

    def absolute(self, module: str, level: int, target: Optional[str]) -> str:
        """The absolute name of ``from <.*level><target> import`` in
        ``module``."""
        if level == 0:
            return target
        base = module.split('.')
        if not self.is_package(module):
            base.pop()
        if level > 1:
            base = base[:len(base) - level + 1]
        return '.'.join(base + ([target] if target else []))

    def defining_module(self, package: str, name: str) -> str:
        """The module that defines ``name`` imported from ``package``
        (following the re-exports of packages' ``__init__``)."""
        if f'{package}.{name}' in self.paths:
            return f'{package}.{name}'
        if package not in self.paths:
            raise UpstreamError(f'cannot find module {package}')
        if not self.is_package(package):
            return package
        for node in self.tree(package).body:
            if not isinstance(node, ast.ImportFrom):
                continue
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = self.absolute(package, node.level, node.module)
                    if not source.startswith(PACKAGE):
                        return package
                    return self.defining_module(source, alias.name)
        return package


def registered_objects(tree: ast.Module) -> Iterator[Tuple[str, str]]:
    """(registered name, object name) for ``@X.register_module(...)``
    decorators and ``X.register_module(module=Y)`` calls."""

    def is_register(node):
        return (isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == 'register_module')

    def given_name(call):
        for keyword in call.keywords:
            if keyword.arg == 'name' and isinstance(keyword.value,
                                                    ast.Constant):
                return keyword.value.value
        if call.args and isinstance(call.args[0], ast.Constant):
            return call.args[0].value
        return None

    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            for decorator in node.decorator_list:
                if is_register(decorator):
                    yield given_name(decorator) or node.name, node.name
        elif is_register(node):
            for keyword in node.keywords:
                if keyword.arg == 'module' and isinstance(
                        keyword.value, ast.Name):
                    yield (given_name(node)
                           or keyword.value.id), keyword.value.id


def type_names(tree: ast.AST) -> Set[str]:
    """Every literal ``type`` of a config dict: ``dict(type='X')`` and
    ``{'type': 'X'}``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(
                node.func, ast.Name) and node.func.id == 'dict':
            for keyword in node.keywords:
                if keyword.arg == 'type' and isinstance(
                        keyword.value, ast.Constant):
                    names.add(keyword.value.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if (isinstance(key, ast.Constant) and key.value == 'type'
                        and isinstance(value, ast.Constant)):
                    names.add(value.value)
    return {name for name in names if isinstance(name, str)}


def our_imports(source: Source, module: str) -> Iterator[Tuple[ast.AST, str]]:
    """(import node, absolute module it names) for the imports of ours in
    ``module``, at any depth (imports inside functions count)."""
    for node in ast.walk(source.tree(module)):
        if isinstance(node, ast.ImportFrom):
            target = source.absolute(module, node.level, node.module)
            if target == PACKAGE or target.startswith(PACKAGE + '.'):
                yield node, target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == PACKAGE:
                    yield node, alias.name


def imported_modules(source: Source, module: str) -> Set[str]:
    """The modules of ours whose code ``module`` runs by importing."""
    needed = set()
    for node, target in our_imports(source, module):
        if isinstance(node, ast.Import):
            needed.add(target)
            continue
        for alias in node.names:
            if alias.name == '*':
                raise UpstreamError(
                    f'{source.where(module)}: star import from '
                    f'{target} cannot be followed')
            needed.add(source.defining_module(target, alias.name))
    return needed


# ------------------------------------------------------------------ closure


def project_modules(source: Source, name: str,
                    config_types: Set[str]) -> Set[str]:
    """The method's package, what it imports (transitively), and the modules
    registering the types named in its configs or in the copied code."""
    root = f'{PACKAGE}.models.{name}'
    if root not in source.paths:
        raise UpstreamError(f'no package {root}')
    closure: Set[str] = set()
    pending = [root]
    pending += [
        source.registered[t][0] for t in config_types if t in source.registered
    ]
    while pending:
        module = pending.pop()
        if module in closure:
            continue
        closure.add(module)
        pending += imported_modules(source, module)
        pending += [
            source.registered[t][0] for t in type_names(source.tree(module))
            if t in source.registered
        ]
    for whole in (PACKAGE, f'{PACKAGE}.models'):
        if whole in closure:
            raise UpstreamError(
                f'{whole} itself is needed (a name defined in its '
                '__init__.py is imported): it cannot be copied')
    return closure


def copy_parts(module: str) -> Tuple[str, ...]:
    """Dotted path inside ``models/`` of the copy of ``module``."""
    parts = module.split('.')[1:]
    if parts[:1] == ['models']:
        parts = parts[1:]
    return tuple(parts)


def copy_file(source: Source, module: str) -> str:
    parts = copy_parts(module)
    if source.is_package(module):
        return '/'.join(('models', ) + parts + ('__init__.py', ))
    return '/'.join(('models', ) + parts[:-1] + (parts[-1] + '.py', ))


def relative_import(here: Tuple[str, ...], target: Tuple[str, ...]) -> str:
    """``from <this> import`` in the package ``here`` naming ``target`` (both
    inside ``models``)."""
    common = 0
    while (common < min(len(here), len(target))
           and here[common] == target[common]):
        common += 1
    return '.' * (len(here) - common + 1) + '.'.join(target[common:])


# ------------------------------------------------------------------ rewrite


def header(origin: Optional[str], comment: str = '#') -> str:
    """The comment that opens every generated file; ``origin`` is the source
    file (a path inside the package, or inside the repository for configs and
    READMEs), None for files the tool writes itself."""
    text = f'Generated by {SOURCE_NAME}\'s tools/make_upstream_project.py'
    if origin:
        text += f' from its {origin}: edit that file and generate again.'
    else:
        text += ': generate again rather than edit.'
    if comment == '<!--':
        return f'<!-- {text} -->\n\n'
    lines, line = [], comment
    for word in text.split():
        if len(line) + 1 + len(word) > 79:
            lines.append(line)
            line = comment
        line += ' ' + word
    return '\n'.join(lines + [line]) + '\n'


def source_lines(text: str) -> List[str]:
    """The lines of ``text`` as Python numbers them (only ``\\n`` ends a line;
    ``str.splitlines`` also splits at form feeds and the like)."""
    return re.findall(r'[^\n]*\n|[^\n]+\Z', text)


class Edits:
    """Replacements at ast positions (line, UTF-8 byte column) of a text."""

    def __init__(self, text: str):
        self.text = text
        self.lines = source_lines(text)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.edits: List[Tuple[int, int, str]] = []

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1].encode('utf-8')
        return self.starts[lineno - 1] + len(line[:col].decode('utf-8'))

    def span(self, node: ast.AST) -> Tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),
                self.offset(node.end_lineno, node.end_col_offset))

    def replace(self, node: ast.AST, text: str) -> None:
        self.edits.append((*self.span(node), text))

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def apply(self) -> str:
        text = self.text
        for start, end, new in sorted(self.edits, reverse=True):
            text = text[:start] + new + text[end:]
        return text


class Rewriter:
    """Turns a module of ours into its copy."""

    def __init__(self, source: Source, name: str, copied: Set[str],
                 packages: Set[str]):
        self.source = source
        self.name = name
        self.copied = copied
        self.packages = packages  # every package of the copy, as modules
        self.notes: List[str] = []

    def dotted(self, module: str) -> str:
        return '.'.join(('projects', self.name, 'models') + copy_parts(module))

    def here(self, module: str) -> Tuple[str, ...]:
        parts = copy_parts(module)
        return parts if self.source.is_package(module) else parts[:-1]

    def module(self, module: str, text: Optional[str] = None) -> str:
        """The copy of ``module`` (``text``: its source, if not the file's
        own), imports of ours made relative."""
        text = self.source.text(module) if text is None else text
        edits = Edits(text)
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = self.source.absolute(module, node.level, node.module)
                if target.split('.')[0] == PACKAGE:
                    edits.replace(
                        node, self.import_from(module, node, target, edits))
            elif isinstance(node, ast.Import) and any(
                    a.name.split('.')[0] == PACKAGE for a in node.names):
                edits.replace(node, self.import_module(module, node))
        return self.mentions(edits.apply(), self.source.where(module))

    def import_from(self, module: str, node: ast.ImportFrom, target: str,
                    edits: Edits) -> str:
        here = self.here(module)
        if not copy_parts(target):
            # mmpose_ext or mmpose_ext.models: the copy's models/__init__.py
            # is generated, so import each name from where it is defined
            groups: Dict[str, List[str]] = {}
            for alias in node.names:
                defining = self.source.defining_module(target, alias.name)
                names = groups.setdefault(defining, [])
                names.append(alias.name +
                             (f' as {alias.asname}' if alias.asname else ''))
            indent = ' ' * node.col_offset
            return ('\n' + indent).join(
                f'from {relative_import(here, copy_parts(m))} import '
                f'{", ".join(names)}' for m, names in groups.items())
        statement = edits.segment(node)
        match = re.match(r'from\s+([.\w]+)\s+import', statement)
        if not match:
            raise UpstreamError(
                f'{self.source.where(module, node.lineno)}: cannot rewrite '
                'this import')
        new = relative_import(here, copy_parts(target))
        return (statement[:match.start(1)] + new + statement[match.end(1):])

    def import_module(self, module: str, node: ast.Import) -> str:
        lines = []
        for alias in node.names:
            if alias.name.split('.')[0] != PACKAGE:
                lines.append(f'import {alias.name}' +
                             (f' as {alias.asname}' if alias.asname else ''))
            elif alias.asname is None or alias.name == PACKAGE:
                raise UpstreamError(
                    f'{self.source.where(module, node.lineno)}: '
                    f'`import {alias.name}` needs `as NAME` to be rewritten')
            else:
                parent, last = alias.name.rsplit('.', 1)
                new = relative_import(self.here(module), copy_parts(parent))
                lines.append(f'from {new} import {last} as {alias.asname}')
        return ('\n' + ' ' * node.col_offset).join(lines)

    def mentions(self, text: str, origin: str) -> str:
        """``mmpose_ext.a.b`` in comments, docstrings and strings -> the copy's
        dotted name (or the source's name for what is not copied).

        A comment or docstring line that the longer name pushes past 79 columns
        is wrapped; a line of code is only reported.
        """

        def replace(match):
            parts = match.group(0).split('.')
            for n in range(len(parts), 0, -1):
                module = '.'.join(parts[:n])
                if module not in self.source.paths:
                    continue
                if not copy_parts(module):
                    new = f'projects.{self.name}.models'
                elif module in self.copied or module in self.packages:
                    new = self.dotted(module)
                else:
                    break
                return '.'.join([new] + parts[n:])
            self.notes.append(f'{origin}: mentions {match.group(0)}, which '
                              'is not copied (written as '
                              f'{SOURCE_NAME}{match.group(0)[len(PACKAGE):]})')
            return SOURCE_NAME + match.group(0)[len(PACKAGE):]

        pattern = re.compile(rf'\b{PACKAGE}(?:\.\w+)*\b')
        prose = prose_lines(text) if origin.endswith('.py') else {}
        lines = []
        for number, line in enumerate(source_lines(text), 1):
            new = pattern.sub(replace, line)
            if new != line and len(new.rstrip('\n')) > 79 >= len(
                    line.rstrip('\n')):
                wrapped = (
                    wrap_line(new, prose[number])
                    if number in prose else split_string_line(new))
                if wrapped is None:
                    self.notes.append(f'{origin}:{number}: longer than 79 '
                                      'columns after renaming')
                new = wrapped or new
            lines.append(new)
        return ''.join(lines)


def prose_lines(text: str) -> Dict[int, Optional[str]]:
    """Line number -> how a continuation of that line starts.

    The comment prefix (indentation and ``#``) for a comment line, None for a
    line inside a docstring.
    """
    found: Dict[int, Optional[str]] = {}
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            for number in range(body[0].lineno, body[0].end_lineno + 1):
                found[number] = None
    for number, line in enumerate(source_lines(text), 1):
        line = line.rstrip('\n')
        stripped = line.lstrip()
        if stripped.startswith('#'):
            found[number] = line[:len(line) - len(stripped)] + '# '
    return found


def wrap_line(line: str, prefix: Optional[str]) -> Optional[str]:
    """Split ``line`` at its last space within 79 columns; the rest goes to a
    new line that starts with ``prefix`` (a docstring line: the indentation of
    ``line``).

    None if there is no such space.
    """
    body = line.rstrip('\n')
    indent = body[:len(body) - len(body.lstrip())]
    prefix = indent if prefix is None else prefix
    cut = body.rfind(' ', len(prefix), 80)
    if cut < 0 or not body[len(indent):cut].strip():
        return None
    return body[:cut] + '\n' + prefix + body[cut + 1:] + line[len(body):]


def split_string_line(line: str) -> Optional[str]:
    """A line that is one string literal (part of an implicit concatenation) as
    two literals, split at a space within 79 columns and outside ``{}``.

    None for any other line.
    """
    body = line.rstrip('\n')
    match = re.fullmatch(r"(\s*)(f?)'([^'\\]*)'", body)
    if not match:
        return None
    indent, prefix, text = match.groups()
    room = 79 - len(indent) - len(prefix) - 2
    for cut in range(min(room, len(text) - 1), 0, -1):
        head = text[:cut]
        if text[cut - 1] == ' ' and head.count('{') == head.count('}'):
            tail = text[cut:]
            return (f"{indent}{prefix if '{' in head else ''}'{head}'\n"
                    f"{indent}{prefix if '{' in tail else ''}'{tail}'" +
                    line[len(body):])
    return None


def format_all(names: List[str]) -> str:
    """``__all__ = [...]`` as yapf writes it within 79 columns."""
    items = [repr(n) for n in names]
    one_line = f'__all__ = [{", ".join(items)}]'
    if len(one_line) <= 79:
        return one_line + '\n'
    lines, line = [], '   '
    for item in items:
        if len(line) + len(item) + 2 > 79:
            lines.append(line.rstrip())
            line = '   '
        line += ' ' + item + ','
    lines.append(line[:-1])
    return '__all__ = [\n' + '\n'.join(lines) + '\n]\n'


def format_import(module: str, names: List[str]) -> str:
    """``from module import names`` wrapped as isort's grid mode (79
    columns)."""
    start = f'from {module} import '
    line = start + ', '.join(names)
    if len(line) <= 79:
        return line + '\n'
    indent = ' ' * (len(start) + 1)
    lines, current = [], start + '('
    for i, name in enumerate(names):
        piece = name + (')' if i == len(names) - 1 else ',')
        if current.strip() and len(current) + len(piece) + 1 > 79 and (
                current != start + '('):
            lines.append(current.rstrip())
            current = indent
        current += piece if current.endswith(('(', ' ')) else ' ' + piece
    lines.append(current)
    return '\n'.join(lines) + '\n'


def isort_key(name: str) -> Tuple[int, str]:
    """isort's ``order_by_type``: CONSTANTS, Classes, functions."""
    if name.isupper() and len(name) > 1:
        return 0, name
    return (1 if name[:1].isupper() else 2), name.lower()


# --------------------------------------------------------------- assembling


def project_configs(name: str) -> Path:
    path = REPO / 'configs' / name
    if not path.is_dir():
        raise UpstreamError(f'{path} not found (run from a source checkout of '
                            f'{SOURCE_NAME})')
    return path


def config_bases(tree: ast.Module) -> List[ast.Constant]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            value = node.value
            items = value.elts if isinstance(value, (ast.List,
                                                     ast.Tuple)) else [value]
            return [item for item in items if isinstance(item, ast.Constant)]
    return []


class ConfigCopier:
    """configs/NAME/ -> configs/ of the project."""

    def __init__(self, name: str, rewriter: Rewriter):
        self.name = name
        self.dir = project_configs(name)
        self.rewriter = rewriter
        self.files: Dict[str, str] = {}  # path in configs/ -> text
        self.left_out: Dict[str, str] = {}
        self.types: Set[str] = set()
        # source path -> path in configs/ (None: left out, or in progress)
        self.seen: Dict[Path, Optional[str]] = {}

    def run(self) -> None:
        for path in sorted(self.dir.rglob('*')):
            if path.suffix in CONFIG_SUFFIXES and path.is_file():
                self.copy(path)

    def copy(self, path: Path) -> Optional[str]:
        """Copy ``path`` (once); returns its path in configs/ or None when it
        is left out."""
        if path in self.seen:
            return self.seen[path]
        self.seen[path] = None
        rel = self.target(path)
        text = path.read_text(encoding='utf-8')
        if path.suffix != '.py':
            self.files[rel] = self.finish(self.other_file(text), path)
            self.seen[path] = rel
            return rel
        reason = self.reason_to_leave_out(path, text)
        if reason:
            self.left_out[path.relative_to(REPO).as_posix()] = reason
            return None
        tree = ast.parse(text)
        edits = Edits(text)
        for base in config_bases(tree):
            new = self.base(path, base.value)
            if new is False:
                self.left_out[path.relative_to(REPO).as_posix()] = (
                    f'inherits {base.value}, which is left out')
                return None
            if new is not None:
                edits.replace(base, repr(new))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == 'custom_imports'
                    for t in node.targets):
                edits.replace(node, self.custom_imports(node, edits))
        self.types |= type_names(tree)
        self.files[rel] = self.finish(edits.apply(), path)
        self.seen[path] = rel
        return rel

    def custom_imports(self, node: ast.Assign, edits: Edits) -> str:
        """``custom_imports`` naming the copy instead of mmpose_ext, wrapped as
        yapf does when it no longer fits in 79 columns."""
        inner = Edits(edits.segment(node))
        statement = ast.parse(inner.text).body[0]
        for const in ast.walk(statement.value):
            if isinstance(const, ast.Constant) and str(
                    const.value).split('.')[0] == PACKAGE:
                inner.replace(const, repr(f'projects.{self.name}.models'))
        text = inner.apply()
        call = ast.parse(text).body[0].value
        if (all(len(line) <= 79 for line in text.splitlines())
                or not isinstance(call, ast.Call) or call.args):
            return text
        args = Edits(text)
        keywords = [args.segment(k) for k in call.keywords]
        one_line = '    ' + ', '.join(keywords) + ')'
        if len(one_line) <= 79:
            return 'custom_imports = dict(\n' + one_line
        return 'custom_imports = dict(\n' + ',\n'.join('    ' + k
                                                       for k in keywords) + ')'

    def target(self, path: Path) -> str:
        if self.dir in path.parents:
            return path.relative_to(self.dir).as_posix()
        return f'_base_/{path.name}'

    def base(self, path: Path, base: str):
        """The new text of a ``_base_`` entry: None to keep it, False when the
        base is left out."""
        if '::' in base:
            return None
        base_path = (path.parent / base).resolve()
        if not base_path.is_file():
            raise UpstreamError(f'{path}: base {base} not found')
        rel = self.copy(base_path)
        if rel is None:
            return False
        here = self.target(path)
        new = Path(rel).as_posix()
        depth = here.count('/')
        new = '../' * depth + new if depth else './' + new
        return None if new == base else new

    def reason_to_leave_out(self, path: Path, text: str) -> Optional[str]:
        tree = ast.parse(text)
        strings = [
            node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        for marker in REPO_FILE_MARKERS:
            if any(marker in string for string in strings):
                return (f'reads files of this repository ({marker!r}: the '
                        'bundled fixtures or generated data)')
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = ([a.name for a in node.names] if isinstance(
                    node, ast.Import) else [node.module or ''])
                if any(n.split('.')[0] == PACKAGE for n in names):
                    return f'imports {PACKAGE} code in the config'
        return None

    def other_file(self, text: str) -> str:
        """A metafile: config paths and the README link of the project."""
        text = re.sub(rf'(?<![\w/.-])configs/{self.name}/',
                      f'projects/{self.name}/configs/', text)
        return text.replace(f'../../projects/{self.name}/', '../')

    def finish(self, text: str, path: Path) -> str:
        origin = path.relative_to(REPO).as_posix()
        return header(origin) + self.rewriter.mentions(text, origin)


def readme(name: str, rewriter: Rewriter, copied_files: Set[str],
           notes: List[str]) -> Optional[str]:
    path = REPO / 'projects' / name / 'README.md'
    if not path.is_file():
        notes.append(f'projects/{name}/README.md does not exist: the copy '
                     'has no README (MMPose requires one)')
        return None
    text = path.read_text(encoding='utf-8')
    text = re.sub(
        r"""(custom_imports\s*=\s*dict\(\s*imports\s*=\s*\[\s*)(['"])"""
        rf"""{PACKAGE}\2""", rf'\1\2projects.{name}.models\2', text)

    def code_path(match):
        rel = match.group(1)
        parts = rel.rstrip('/').split('/')
        if parts[:1] == ['models']:
            parts = parts[1:]
        candidate = '/'.join(['models'] + parts)
        if candidate in copied_files or any(
                f.startswith(candidate + '/') for f in copied_files):
            return f'projects/{name}/' + candidate + ('/' if rel.endswith('/')
                                                      else '')
        return match.group(0)

    def config_path(match):
        rest = match.group(1)
        if rest and f'configs/{rest}' not in copied_files:
            return match.group(0)  # not ours (the official code's, say)
        return f'projects/{name}/configs/{rest}'

    text = re.sub(rf'(?<![\w/.-]){PACKAGE}/([\w/.]*\w/?)', code_path, text)
    text = re.sub(rf'(?<![\w/.-])configs/{name}/([\w.-]*)', config_path, text)
    for link in re.findall(r'\]\(([^)\s]+)\)', text):
        target = link.split('#')[0]
        if not target or re.match(r'[a-z]+:', target):
            continue
        resolved = posixpath.normpath(target)
        if resolved.startswith('../') or resolved not in copied_files and not (
                any(f.startswith(resolved + '/') for f in copied_files)):
            notes.append(f'README.md links to {link}, which is not in the '
                         'copy')
    left = [
        str(i) for i, line in enumerate(text.splitlines(), 1)
        if re.search(rf'\b{PACKAGE}\b', line)
    ]
    if left:
        notes.append(f'README.md still names {PACKAGE} on line(s) '
                     f'{", ".join(left)} (not code of the copy: reword)')
    return header(f'projects/{name}/README.md', '<!--') + text


def main_init(source: Source, name: str, copied: Set[str]) -> str:
    """models/__init__.py: imports every class the copy registers."""
    by_module: Dict[str, List[str]] = {}
    for module_name, obj in sorted(set(source.registered.values())):
        if module_name in copied:
            by_module.setdefault(module_name, []).append(obj)
    doc = textwrap.fill(
        f'The {name} project: importing this package registers its modules in '
        "MMPose's registries.",
        79,
        initial_indent='"""') + '\n\n' + textwrap.fill(
            'Configs import it with ``custom_imports = '
            f"dict(imports=['projects.{name}.models'])``.", 79) + '\n"""\n'
    lines = [header(None), doc]
    names = []
    for module_name in sorted(by_module, key=lambda m: copy_parts(m)):
        objs = sorted(by_module[module_name], key=isort_key)
        names += objs
        lines.append(
            format_import('.' + '.'.join(copy_parts(module_name)), objs))
    lines.append('\n' + format_all(sorted(names, key=str.lower)))
    return ''.join(lines)


def partial_init(source: Source, rewriter: Rewriter, package: str,
                 copied: Set[str], packages: Set[str]) -> str:
    """The ``__init__.py`` of a package of which only some modules are copied:

    its imports of those modules and its ``__all__`` without the rest.
    """
    text = source.text(package)
    tree = source.tree(package)
    kept, bound = [], []
    edits = Edits(text)
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring describes the whole package
        if isinstance(node, ast.ImportFrom) and node.level:
            target = source.absolute(package, node.level, node.module)
            needed = all(
                source.defining_module(target, a.name) in copied
                or f'{target}.{a.name}' in packages for a in node.names)
            if needed:
                kept.append(edits.segment(node))
                bound += [a.asname or a.name for a in node.names]
            continue
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '__all__'
                for t in node.targets):
            continue
        raise UpstreamError(f'{source.where(package, node.lineno)}: only '
                            'imports and __all__ can be filtered')
    has_all = any(
        isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == '__all__'
            for t in node.targets) for node in tree.body)
    body = (f'"""The modules of ``{".".join(copy_parts(package))}`` that '
            f'this project uses."""\n')
    body += ''.join(line + '\n' for line in kept)
    if has_all and bound:
        body += '\n' + format_all(bound)
    copy = rewriter.module(package, body)
    return header(
        source.relative_path(package) +
        ' (its imports of the copied modules)') + copy


def check_dependencies(source: Source, module: str, notes: List[str]) -> None:
    """A module-level import outside MMPose's dependencies is an error; one
    inside a function or ``try`` is optional and noted."""
    stdlib = getattr(sys, 'stdlib_module_names', frozenset())

    def visit(body, guarded):
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.ImportFrom) and node.level:
                    continue
                names = ([a.name for a in node.names] if isinstance(
                    node, ast.Import) else [node.module])
                for top in {n.split('.')[0] for n in names}:
                    if top in stdlib or top in MMPOSE_DEPENDENCIES or (
                            top == PACKAGE):
                        continue
                    where = source.where(module, node.lineno)
                    if not guarded:
                        raise UpstreamError(
                            f'{where} imports {top}, which MMPose does not '
                            'depend on')
                    notes.append(f'{where}: optional import of {top} (only '
                                 'where it is used)')
            elif isinstance(node,
                            (ast.FunctionDef, ast.AsyncFunctionDef, ast.Try)):
                visit(node.body, True)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, guarded)
            elif isinstance(node, ast.If):
                visit(node.body, guarded)
                visit(node.orelse, guarded)

    visit(source.tree(module).body, False)


def assemble(name: str, source: Optional[Source] = None) -> Assembly:
    """Everything ``projects/NAME`` holds, in memory."""
    if name not in PROJECTS:
        raise UpstreamError(f'unknown project {name!r}: choose one of '
                            f'{", ".join(PROJECTS)}')
    source = source or Source()
    result = Assembly(name)

    # configs first: the types they name decide part of the code
    probe = ConfigCopier(name, Rewriter(source, name, set(), set()))
    probe.run()
    copied = project_modules(source, name, probe.types)
    # the packages above the copied modules, whose __init__.py is filtered
    packages = set()
    for module in copied:
        parts = module.split('.')
        packages |= {'.'.join(parts[:n]) for n in range(2, len(parts))}
    packages = {p for p in packages - copied if copy_parts(p)}
    rewriter = Rewriter(source, name, copied, packages)

    files: Dict[str, str] = {}
    origins: Dict[str, str] = {}
    for module in sorted(copied | packages):
        path = copy_file(source, module)
        if path in origins:
            raise UpstreamError(f'{module} and {origins[path]} would both be '
                                f'copied to {path}')
        origins[path] = module
        if module in copied:
            check_dependencies(source, module, result.notes)
            files[path] = (
                header(source.relative_path(module)) + rewriter.module(module))
            result.modules[module] = path
        else:
            files[path] = partial_init(source, rewriter, module, copied,
                                       packages)
    files['models/__init__.py'] = main_init(source, name, copied)

    configs = ConfigCopier(name, rewriter)
    configs.run()
    for rel, text in configs.files.items():
        files[f'configs/{rel}'] = text
    result.configs = sorted(r for r in configs.files if r.endswith('.py'))
    result.left_out = configs.left_out

    text = readme(name, rewriter, set(files), result.notes)
    if text is not None:
        files['README.md'] = text
    result.files = dict(sorted(files.items()))
    result.notes += rewriter.notes
    return result


def write(assembly: Assembly, out_dir: Path, force: bool = False) -> Path:
    """Write ``assembly`` to ``out_dir/projects/NAME``."""
    target = Path(out_dir) / 'projects' / assembly.name
    if target.exists() and any(target.iterdir()):
        if not force:
            raise UpstreamError(f'{target} is not empty (--force replaces it)')
        shutil.rmtree(target)
    for rel, text in assembly.files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding='utf-8')
    return target


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m mmpose_ext.tools.make_upstream_project',
        description=__doc__.split('\n\n')[0] +
        ' Writes OUT_DIR/projects/NAME/ (models/, configs/, README.md), so '
        'that OUT_DIR can be the root of an MMPose checkout: from there, '
        'export PYTHONPATH=$(pwd):$PYTHONPATH and mim train mmpose '
        'projects/NAME/configs/CONFIG.py.')
    parser.add_argument('name', metavar='NAME', help=' | '.join(PROJECTS))
    parser.add_argument(
        'out_dir',
        metavar='OUT_DIR',
        help='the folder that receives projects/NAME/ (an MMPose checkout)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace a non-empty OUT_DIR/projects/NAME')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        assembly = assemble(args.name)
        target = write(assembly, Path(args.out_dir), args.force)
    except (UpstreamError, OSError) as error:
        print(f'make_upstream_project: error: {error}', file=sys.stderr)
        return 2
    print(f'{target}: {len(assembly.files)} files')
    print('  modules: ' + ', '.join(sorted(assembly.modules.values())))
    print('  configs: ' + ', '.join(assembly.configs))
    for config, reason in assembly.left_out.items():
        print(f'  left out {config}: {reason}')
    for note in assembly.notes:
        print(f'  note: {note}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
