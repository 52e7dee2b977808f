"""fedctl: not built yet (issue "fedctl and the one-machine stack")."""

import sys


def main() -> None:
    print("fedctl: not built yet (see the issue 'fedctl and the one-machine stack').")
    sys.exit(2)


if __name__ == "__main__":
    main()
