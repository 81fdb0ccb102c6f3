import sys

from .cli import main

# The guard matters: vLLM starts its engine in a spawned process, which re-imports this module.
if __name__ == "__main__":
    sys.exit(main())
