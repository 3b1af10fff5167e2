"""`python -m pixelseg` (and so `torchrun -m pixelseg train ...`)."""
from pixelseg.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
