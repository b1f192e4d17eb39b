#!/usr/bin/env bash
# Sets up alttext on a fresh Debian/Ubuntu machine: a virtual environment in .venv with the CPU build of
# PyTorch, alttext itself, and exiftool. `--test` adds what the test suite needs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test,semantic]"

# exiftool: alttext writes HEIC/AVIF metadata through it; the tests use it as an independent oracle.
if ! command -v exiftool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl >/dev/null
  else
    echo "note: exiftool not found; HEIC/AVIF files will get XMP sidecars (apt-get install libimage-exiftool-perl)" >&2
  fi
fi

# chromium (--test only): the web app's browser tests drive Debian's chromium through Playwright, whose own
# browser download (`playwright install`) needs network access CI doesn't have.
if [ -n "$extras" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium not found; the browser tests will be skipped, or fail under CI=true (apt-get install chromium)" >&2
  fi
fi

# jpegtran (--test only): the identity tests rotate a JPEG losslessly with it (libjpeg-turbo-progs).
if [ -n "$extras" ] && ! command -v jpegtran >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjpeg-turbo-progs >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjpeg-turbo-progs >/dev/null
  else
    echo "note: jpegtran not found; the lossless-rotate identity test will be skipped (apt-get install libjpeg-turbo-progs)" >&2
  fi
fi

# tesseract (--test only; optional for users): --read-text with a pixels-only model reads the text in pictures
# with it (docs/architecture.md §15). Debian's package brings its English data; nothing is downloaded later.
if [ -n "$extras" ] && ! command -v tesseract >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null
  else
    echo "note: tesseract not found; its OCR tests will be skipped (apt-get install tesseract-ocr)" >&2
  fi
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
