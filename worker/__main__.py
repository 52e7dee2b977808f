"""fed-worker: not built yet (issue "Workers"); says so instead of pretending."""

import sys


def main() -> None:
    print("fed-worker: the Worker service is not built yet (see the issue 'Workers').")
    sys.exit(2)


if __name__ == "__main__":
    main()
