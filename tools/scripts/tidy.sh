#!/usr/bin/env bash
# make tidy: go work sync, then go mod tidy in every module of go.work.
#
# go mod tidy ignores go.work (golang/go#50750): in a module that imports
# another module of this workspace (the services import libs/bus, libs/svc,
# tools/devstack, ...) it looks that module up on the module proxy, where it
# does not exist, and fails. So every module is tidied with GOWORK=off and a
# temporary replace directive pointing each other workspace module at its
# directory. Afterwards the replace directives, and the requirements on
# workspace modules that tidy added, are dropped again: go.mod keeps its
# layout (workspace modules come from go.work) and lists every external
# module its packages and tests need, with go.sum to match. A module whose
# tidy fails is left as it was; the script names it and exits 1 at the end.
# (go work sync itself only updates the modules that import no other
# workspace module; it skips the others without a word.)
set -euo pipefail
cd "$(dirname "$0")/../.."

mapfile -t mods < <(go list -m -f '{{.Path}} {{.Dir}}')
((${#mods[@]} > 1)) || { echo "tidy: go list -m found no workspace modules" >&2; exit 1; }

echo "go work sync"
go work sync

backup=$(mktemp -d)
trap 'rm -rf "$backup"' EXIT
failed=()
for m in "${mods[@]}"; do
  path=${m%% *} dir=${m#* } name=${m#* }; name=${name#"$PWD"/}
  echo "go mod tidy: $name"
  if (cd "$dir" && go mod edit -json | grep -q '"Replace": \['); then
    echo "tidy: $name/go.mod has replace directives of its own, which this script would drop: skipped" >&2
    failed+=("$name"); continue
  fi
  cp "$dir/go.mod" "$backup/go.mod"
  rm -f "$backup/go.sum"; [[ ! -f $dir/go.sum ]] || cp "$dir/go.sum" "$backup/go.sum"
  edits=() drops=()
  for o in "${mods[@]}"; do
    opath=${o%% *} odir=${o#* }
    [[ $opath != "$path" ]] || continue
    rel=$(realpath --relative-to="$dir" "$odir")
    [[ $rel == ../* ]] || rel=./$rel
    edits+=("-replace=$opath=$rel")
    drops+=("-dropreplace=$opath" "-droprequire=$opath")
  done
  if ! (cd "$dir" && go mod edit "${edits[@]}" && GOWORK=off go mod tidy && go mod edit "${drops[@]}"); then
    echo "tidy: go mod tidy failed in $name; its go.mod and go.sum are left as they were" >&2
    cp "$backup/go.mod" "$dir/go.mod"
    if [[ -f $backup/go.sum ]]; then cp "$backup/go.sum" "$dir/go.sum"; else rm -f "$dir/go.sum"; fi
    failed+=("$name")
  fi
done
if ((${#failed[@]})); then
  echo "tidy: not tidied: ${failed[*]}" >&2
  exit 1
fi
