#!/usr/bin/env bash
# Sets up alttext on a fresh Debian/Ubuntu machine: a virtual environment in .venv with the CPU build of
# PyTorch, alttext itself, and exiftool. `--test` adds what the test suite needs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test,semantic]"

# A Debian package, unless COMMAND is already there: as root, through sudo, or else a note saying what is
# missing and what that costs (NOTE).
apt_package() {  # PACKAGE COMMAND NOTE
  command -v "$2" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "note: $2 not found; $3 (apt-get install $1)" >&2
  fi
}

# exiftool: alttext writes HEIC/AVIF metadata through it; the tests use it as an independent oracle.
apt_package libimage-exiftool-perl exiftool "HEIC/AVIF files will get XMP sidecars"

if [ -n "$extras" ]; then
  # chromium: the web app's browser tests drive Debian's chromium through Playwright, whose own browser
  # download (`playwright install`) needs network access CI doesn't have.
  apt_package chromium chromium "the browser tests will be skipped, or fail under CI=true"
  # jpegtran: the identity tests rotate a JPEG losslessly with it.
  apt_package libjpeg-turbo-progs jpegtran "the lossless-rotate identity test will be skipped"
  # heif-enc: the tests write HEICs with a thumbnail, as phones do (pillow-heif writes none).
  apt_package libheif-examples heif-enc "the HEIC thumbnail tests will be skipped"
  # tesseract (optional for users): --read-text with a pixels-only model reads the text in pictures with it
  # (docs/architecture.md §15). Debian's package brings its English data; nothing is downloaded later.
  apt_package tesseract-ocr tesseract "its OCR tests will be skipped"
fi

# PostgreSQL (--test only): the index tests run on PostgreSQL too, against a throwaway server that
# tests/pg_kit.py initdb's into a temporary folder (as `nobody` when run as root: PostgreSQL refuses root).
# Debian's package would also create and start a system-wide cluster; we ask it not to.
if [ -n "$extras" ] && ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null && ! command -v pg_ctl >/dev/null 2>&1; then
  pg_install() {
    $1 mkdir -p /etc/postgresql-common
    [ -e /etc/postgresql-common/createcluster.conf ] || \
      echo "create_main_cluster = false" | $1 tee /etc/postgresql-common/createcluster.conf >/dev/null
    $1 apt-get update -qq && $1 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  }
  if [ "$(id -u)" = 0 ]; then
    pg_install ""
  elif command -v sudo >/dev/null 2>&1; then
    pg_install sudo
  else
    echo "note: PostgreSQL not found; its tests will be skipped, or fail under CI=true (apt-get install postgresql)" >&2
  fi
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# PyTorch first, the build this machine wants (scripts/choose_torch.py): a torch already in .venv is kept;
# without an NVIDIA GPU the CPU build from PyTorch's CPU index (an unpinned or plain torch from the public
# index is the multi-GB CUDA build); ALTTEXT_TORCH=cpu|cuda chooses. It says which build it installed.
.venv/bin/python scripts/choose_torch.py
.venv/bin/python -m pip install -q -e ".${extras}"
echo "alttext installed: $(.venv/bin/alttext --version)"
