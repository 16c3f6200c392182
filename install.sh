#!/usr/bin/env bash
# Install preimage into ./.venv. With --test: also the test tools and the VLFeat
# reference (Debian's libvlfeat + cyvlfeat) that the HOG/DSIFT tests compare against.
set -euo pipefail
cd "$(dirname "$0")"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ "$want_test" = 1 ] && ! [ -f /usr/include/vl/hog.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvlfeat-dev libvlfeat1 >/dev/null
  else
    echo "install.sh: VLFeat headers missing; run: sudo apt-get install libvlfeat-dev libvlfeat1" >&2
    exit 1
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python
$py -m pip install -q --upgrade pip
$py -m pip install -q torch torchvision
if [ "$want_test" = 1 ]; then
  $py -m pip install -q -e '.[test]'
  $py -m pip install -q numpy cython wheel
  $py -m pip install -q --no-build-isolation cyvlfeat==0.7.1
else
  $py -m pip install -q -e .
fi
echo "install.sh: preimage installed in $(pwd)/.venv"
