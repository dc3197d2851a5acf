#!/usr/bin/env bash
# Installs what `make dev` and `make test` need on a fresh machine, and says
# exactly what is missing when it cannot install it.
set -uo pipefail
cd "$(dirname "$0")/.."

missing=0
say() { printf '%s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  say "missing: Go 1.26 (https://go.dev/dl/); put it on PATH and rerun"
  exit 1
fi

# moto_server (the AWS emulator) and cfn-lint: preinstalled on our machines;
# elsewhere into a project-local virtualenv when Python is there.
need_py=()
command -v moto_server >/dev/null 2>&1 || [ -x .venv/bin/moto_server ] || need_py+=("moto[server]")
command -v cfn-lint >/dev/null 2>&1 || [ -x .venv/bin/cfn-lint ] || need_py+=("cfn-lint")
if [ ${#need_py[@]} -gt 0 ]; then
  if command -v python3 >/dev/null 2>&1; then
    say "installing ${need_py[*]} into ./.venv"
    [ -x .venv/bin/pip ] || python3 -m venv .venv || { say "python3 -m venv failed: install python3-venv"; exit 1; }
    .venv/bin/pip install --quiet "${need_py[@]}" || { say "pip install ${need_py[*]} failed: install them yourself (pip install 'moto[server]' cfn-lint)"; missing=1; }
  else
    say "missing: ${need_py[*]}; install Python 3 and run: pip install 'moto[server]' cfn-lint"
    missing=1
  fi
fi

# ffmpeg (with ffprobe) renders videos and a font draws their text; the
# render tests need both.
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1 || ! [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ffmpeg and fonts-dejavu-core with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg fonts-dejavu-core >/dev/null) \
      || { say "apt-get install ffmpeg fonts-dejavu-core failed; install them yourself"; missing=1; }
  else
    say "missing: ffmpeg, ffprobe or the DejaVu fonts; install them (sudo apt-get install ffmpeg fonts-dejavu-core / brew install ffmpeg)"
    missing=1
  fi
fi
exit $missing
