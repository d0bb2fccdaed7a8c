#!/bin/sh
# What the tests need beyond `pip install -e ".[dev]"`, so that `sh tests/setup.sh && python3 -m pytest` (the
# README's test command, which CI runs) passes on a fresh machine:
#  - the test-only Python packages, installed without their dependencies (tests/requirements-nodeps.txt says why);
#  - a headless Chromium, which the leaderboard test renders its page in: the Debian packages of
#    .ci/apt-packages.txt, installed with apt-get (through sudo when not root) unless a Chromium is already on PATH.
set -eu
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-deps -r tests/requirements-nodeps.txt
for browser in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$browser" >/dev/null 2>&1; then
    exit 0
  fi
done
packages=$(grep -v '^#' .ci/apt-packages.txt | xargs)
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "tests/setup.sh: installing $packages (the leaderboard test's headless browser) with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $packages >/dev/null
else
  echo "tests/setup.sh: install Chromium (chromium or google-chrome on PATH) with your package manager: the" \
       "leaderboard test renders its page in it" >&2
  exit 1
fi
