#!/usr/bin/env bash
# tools/install-deps.sh — install the Debian 12 packages herd builds and tests with.
# Runs apt-get only when something is missing, so it is cheap on a prepared machine.
#   --build   just what building needs
#   (default) building + testing (python3-torch for the parity references, clang for fuzzing)
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config git
  libcjson-dev libutf8proc-dev libpcre2-dev
  libavcodec-dev libavformat-dev libavutil-dev libswresample-dev libswscale-dev
  libpng-dev libjpeg62-turbo-dev libespeak-ng-dev libmicrohttpd-dev)
TEST_PKGS=(libcmocka-dev python3 python3-numpy python3-torch python3-torchaudio python3-regex python3-pil clang libclang-rt-14-dev pocketsphinx pocketsphinx-en-us ffmpeg
  libopenblas0-openmp)  # a fast BLAS for the PyTorch references and benchmarks

pkgs=("${BUILD_PKGS[@]}")
[ "${1:-}" = "--build" ] || pkgs+=("${TEST_PKGS[@]}")
# the server test drives herd serve with the official `openai` npm client: Node.js and npm
# from Debian unless a node/npm is already installed
if [ "${1:-}" != "--build" ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
