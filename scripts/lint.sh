#!/usr/bin/env bash
# MMPose's contributor lint rules (its .pre-commit-config.yaml): flake8, isort, yapf, docformatter
# (--wrap-descriptions 79), codespell, and pre-commit-hooks' single-quote, trailing-whitespace and
# end-of-file fixers. Settings live in setup.cfg (79 columns).
#
#   bash scripts/lint.sh          check; exit 1 on any finding (CI runs this)
#   bash scripts/lint.sh --fix    apply the formatters in place, then check
#
# The tools live in their own virtual environment, .venv-lint (requirements/lint.txt), so their
# versions never touch the OpenMMLab stack in .venv (MMEngine pulls a newer yapf there).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LINT_VENV="$ROOT/.venv-lint"
if [ ! -x "$LINT_VENV/bin/flake8" ] || ! cmp -s requirements/lint.txt "$LINT_VENV/.requirements"; then
    python3 -m venv "$LINT_VENV"
    "$LINT_VENV/bin/python" -m pip install --isolated --disable-pip-version-check -q -r requirements/lint.txt
    cp requirements/lint.txt "$LINT_VENV/.requirements"
fi
B="$LINT_VENV/bin"
mapfile -t PY < <(git ls-files -co --exclude-standard '*.py')
mapfile -t TEXT < <(git ls-files -co --exclude-standard '*.py' '*.md' '*.yml' '*.yaml' '*.cfg' '*.toml' '*.txt' '*.sh')

if [ "${1:-}" = "--fix" ]; then
    "$B/isort" -q "${PY[@]}"
    "$B/yapf" -i -p "${PY[@]}"
    "$B/docformatter" --in-place --wrap-descriptions 79 "${PY[@]}" || true
    "$B/double-quote-string-fixer" "${PY[@]}" >/dev/null || true
    "$B/trailing-whitespace-fixer" "${TEXT[@]}" >/dev/null || true
    "$B/end-of-file-fixer" "${TEXT[@]}" >/dev/null || true
fi

status=0
run() {  # run NAME CMD...: report and remember a failure, go on with the other tools
    local name="$1"; shift
    if ! "$@"; then echo "lint: $name failed" >&2; status=1; fi
}
run flake8 "$B/flake8" "${PY[@]}"
run isort "$B/isort" --check-only --diff -q "${PY[@]}"
run yapf "$B/yapf" --diff -p "${PY[@]}"
run docformatter "$B/docformatter" --check --wrap-descriptions 79 "${PY[@]}"
run codespell "$B/codespell" "${TEXT[@]}"
# The fixers only rewrite files: run them on a copy and show what they would change.
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
tar cf - "${TEXT[@]}" | tar xf - -C "$TMP"
(cd "$TMP" && "$B/double-quote-string-fixer" "${PY[@]}" >/dev/null; \
    "$B/trailing-whitespace-fixer" "${TEXT[@]}" >/dev/null; "$B/end-of-file-fixer" "${TEXT[@]}" >/dev/null) || true
if ! diff -r -u --exclude='*.pyc' <(cd "$ROOT" && cat "${TEXT[@]}") <(cd "$TMP" && cat "${TEXT[@]}") >/dev/null; then
    for f in "${TEXT[@]}"; do
        diff -u "$f" "$TMP/$f" --label "$f" --label "$f (fixed)" || true
    done
    echo "lint: quote / whitespace / end-of-file fixers would change the files above" >&2
    status=1
fi
if [ "$status" = 0 ]; then echo "lint: OK (${#PY[@]} Python files, ${#TEXT[@]} text files)"; fi
exit "$status"
