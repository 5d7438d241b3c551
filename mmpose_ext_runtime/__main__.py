import sys

from .app import cli

if __name__ == '__main__':
    sys.exit(cli())
