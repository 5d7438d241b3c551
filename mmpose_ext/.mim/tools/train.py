"""``mim train mmpose_ext CONFIG [MMPose's train.py arguments]``.

mim runs ``<package>/.mim/tools/train.py``; this one is ``python -m
mmpose_ext.tools.train``: MMPose's ``tools/train.py`` after ``import
mmpose_ext``, so configs that inherit ``mmpose_ext::NAME`` train.
"""
import sys

from mmpose_ext.tools.train import cli

if __name__ == '__main__':
    sys.exit(cli())
