# The peers the tests talk to, checked before `npm test` runs them (package.json's pretest; .ci/run
# relies on it too): programs and libraries nobody here wrote, each from its Debian package. When one
# is missing, root on Debian/Ubuntu gets it installed (one apt-get update, one apt-get install);
# anyone else gets one line naming what is missing and how to install it, and exit 1. When nothing
# is missing it prints nothing and calls no apt (a few ms: one Python start-up).
set -eu

GO_SYSTEMD=/usr/share/gocode/src/github.com/coreos/go-systemd # where test/_support/go.ts builds from

missing= # what is missing, as the tests name it
pkgs=    # the Debian packages that bring it, each once

need() { # need WHAT PACKAGE
  missing="${missing:+$missing, }$1"
  case " $pkgs " in *" $2 "*) ;; *) pkgs="${pkgs:+$pkgs }$2" ;; esac
}
have() { command -v "$1" >/dev/null 2>&1; }

check() {
  missing= pkgs=
  # Several tests run /usr/bin/python3 by that path, and import systemd.daemon with it.
  if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c 'import systemd.daemon' 2>/dev/null || need "Python's systemd.daemon" python3-systemd
  else
    need /usr/bin/python3 python3
    need "Python's systemd.daemon" python3-systemd
  fi
  # test/_support/go.ts: /usr/bin/go or a go on PATH, and Debian's go-systemd GOPATH tree.
  [ -x /usr/bin/go ] || have go || need go golang-go
  [ -d "$GO_SYSTEMD/activation" ] && [ -d "$GO_SYSTEMD/daemon" ] || need "go-systemd ($GO_SYSTEMD)" golang-github-coreos-go-systemd-dev
  # Some tests run /usr/bin/systemd-socket-activate by that path.
  [ -x /usr/bin/systemd-socket-activate ] || need systemd-socket-activate systemd
  for tool in systemd-notify systemd-analyze; do have "$tool" || need "$tool" systemd; done
  for tool in unshare setpriv prlimit setsid; do have "$tool" || need "$tool" util-linux; done
  for tool in ss ip; do have "$tool" || need "$tool" iproute2; done
  have openssl || need openssl openssl
}

check
[ -z "$missing" ] && exit 0

if have apt-get && [ "$(id -u)" = 0 ]; then
  echo "peers: installing $pkgs (the tests talk to them)" >&2
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
  check
  [ -z "$missing" ] && exit 0
  echo "peers: still missing after apt-get install: $missing" >&2
elif have apt-get; then
  echo "peers: the tests need $missing; install as root: apt-get update && apt-get install -y $pkgs" >&2
else
  echo "peers: the tests need $missing; install them (Debian/Ubuntu packages: $pkgs)" >&2
fi
exit 1
