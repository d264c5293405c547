#!/usr/bin/env bash
# CTest `dockerfile` (label unit): the compose test makes its images from binaries built on the
# machine (deploy/image.sh), so CI never compiles deploy/Dockerfile's build stage, which is what
# operators' `docker compose up` runs. This keeps that stage from drifting silently:
#   - every -dev package deploy/install-deps.sh installs to build the suite is in the build stage;
#   - the build stage builds, and copies out, exactly the binaries deploy/image.sh puts in the image;
#   - the stages the compose file and image.sh name exist.
# A library a new dependency needs at run time is caught by image.sh itself (ldd in the image).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
DOCKERFILE=$SRC/deploy/Dockerfile
fails=0
fail() { echo "dockerfile_test: $*"; fails=$((fails + 1)); }

# The build stage's text, from its FROM to the next FROM, without comments; and its words.
build_stage=$(awk '/^FROM .* AS /{stage=$NF} stage=="build" && !/^[[:space:]]*#/' "$DOCKERFILE")
[[ -n $build_stage ]] || fail "deploy/Dockerfile has no stage 'build'"
build_words=$(tr -s ' \t\\' '\n\n\n' <<<"$build_stage")

# install-deps.sh's packages between '# build' and the next comment line.
mapfile -t build_pkgs < <(awk '/^  # build$/{on=1; next} on && /^  #/{exit} on' "$SRC/deploy/install-deps.sh" |
  tr ' ' '\n' | grep -E -e '-dev$' -e '^protobuf-compiler' | sort -u)
((${#build_pkgs[@]} > 5)) || fail "found only ${#build_pkgs[@]} build packages in deploy/install-deps.sh: its '# build' group moved?"
for p in "${build_pkgs[@]}"; do
  grep -qxF -- "$p" <<<"$build_words" ||
    fail "deploy/install-deps.sh builds with $p, deploy/Dockerfile's build stage does not install it"
done

# The binaries: image.sh's list, the build stage's --target list and its cp list agree.
mapfile -t image_bins < <(sed -n '/^declare -A BINARIES=(/,/^)/p' "$SRC/deploy/image.sh" | grep -oE '\[[a-z-]+\]' | tr -d '[]' | sort)
((${#image_bins[@]} == 6)) || fail "deploy/image.sh lists ${#image_bins[@]} binaries, not 6"
# (Each extraction may find nothing: the comparison below then says what differs.)
targets=$(awk '/--target/{on=1} on{print} on && !/\\$/{exit}' <<<"$build_stage" | tr -s ' \t\\' '\n\n\n' |
  sed -n '/^--target$/,$p' | grep -E '^semper[a-z-]*$' | sort || true)
copied=$(grep -oE '/build/[a-z/]+/semper[a-z-]*' <<<"$build_stage" | sed 's|.*/||' | sort || true)
[[ $targets == "$(printf '%s\n' "${image_bins[@]}")" ]] ||
  fail "the build stage builds [$(echo $targets)], deploy/image.sh packs [${image_bins[*]}]"
[[ $copied == "$(printf '%s\n' "${image_bins[@]}")" ]] ||
  fail "the build stage copies out [$(echo $copied)], deploy/image.sh packs [${image_bins[*]}]"

# The stages named elsewhere.
for stage in postgres runtime runtime-base runtime-prebuilt; do
  grep -qE "^FROM .* AS $stage$" "$DOCKERFILE" || fail "deploy/Dockerfile has no stage '$stage'"
done
for stage in $(grep -oE 'target: [a-z-]+' "$SRC/deploy/docker-compose.yml" | sed 's/target: //'); do
  grep -qE "^FROM .* AS $stage$" "$DOCKERFILE" || fail "docker-compose.yml builds the missing stage '$stage'"
done

((fails == 0)) || exit 1
echo "dockerfile_test: passed (${#build_pkgs[@]} build packages, ${#image_bins[@]} binaries)"
