#!/usr/bin/env bash
# The .deb packages in a clean Debian 12: a minbase chroot (scripts/image rootfs: debootstrap
# --variant=minbase bookworm from the host's archive, cached) where apt installs the packages and
# must resolve every dependency they declare. Then, in private mount and network namespaces:
#  - every installed binary prints its version, and k8slb-sim runs a shipped scenario;
#  - k8slb-dashboard's dependencies resolve (not installed: its Qt stack is large);
#  - the consumer example is built against /usr with what libk8slb-dev brought plus a compiler
#    and CMake, and balances RPCs over the installed k8slb-fakeapi and k8slb-echo-server.
#   deb_chroot.sh DEB...
# Exit 0: all of it worked; 77: skipped (not root, no debootstrap rootfs), with the reason.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$here/pods.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 DEB..." >&2; exit 2; }
[[ $(id -u) == 0 ]] || skip "needs root (chroot, mount namespaces)"
unshare -m true 2>/dev/null || skip "cannot create a mount namespace here (needs CAP_SYS_ADMIN)"

set +e
rootfs=$("$repo/scripts/image" rootfs)
rc=$?
set -e
[[ $rc == 3 ]] && skip "no Debian 12 rootfs can be made here (scripts/image said why above)"
[[ $rc == 0 ]] || fail "scripts/image rootfs exited $rc"

root=$(mktemp -d /var/tmp/k8slb-chroot.XXXXXX)
chmod 755 "$root"  # apt's _apt user reads the lists and archives below it
trap 'rm -rf --one-file-system "$root"' EXIT
tar --numeric-owner -C "$root" -xf "$rootfs"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/tmp/debs" "$root/tmp/src/tests" "$root/tmp/src/examples"
cp "$@" "$root/tmp/debs/"
cp -r "$repo/examples/consumer" "$root/tmp/src/examples/"
cp -r "$here" "$root/tmp/src/tests/packaging"
debs=()
for deb in "$@"; do debs+=("/tmp/debs/$(basename "$deb")"); done

# A plain system, not an image: apt keeps what it downloads, in a cache of this check's own
# (bind-mounted below) so later runs on this machine fetch nothing again.
rm -f "$root/etc/apt/apt.conf.d/docker-clean"
archives="${K8SLB_IMAGE_CACHE:-/var/cache/k8slb}/chroot-apt-archives"
mkdir -p "$archives/partial"

# Inside a private mount namespace, so the mounts vanish with it.
unshare -m --propagation private /bin/bash -s "$root" "$archives" "${debs[@]}" <<'INSIDE'
set -euo pipefail
root=$1 archives=$2
shift 2
mount --bind "$archives" "$root/var/cache/apt/archives"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get -o APT::Sandbox::User=root update -qq
echo "deb_chroot: apt-get install ${*##*/} (and cmake, g++, make, curl, iproute2 for the checks)"
# k8slb-dashboard's Qt stack is large: its dependencies are only resolved (apt-get -s).
install=() simulate=()
for deb in "$@"; do
  case "${deb##*/}" in
    k8slb-dashboard_*) simulate+=("$deb") ;;
    *) install+=("$deb") ;;
  esac
done
in_root apt-get -o APT::Sandbox::User=root install -y -qq --no-install-recommends "${install[@]}" cmake g++ make \
  curl iproute2 >/dev/null
if ((${#simulate[@]})); then
  in_root apt-get -o APT::Sandbox::User=root install -s -qq --no-install-recommends "${simulate[@]}" >/dev/null
  echo "deb_chroot: the dependencies of ${simulate[*]##*/} resolve"
fi
in_root dpkg-query -W -f '${Package} ${Version} ${Status}\n' k8slb libk8slb-dev
for bin in k8slb-client k8slb-echo-server k8slb-fakeapi k8slb-sim; do in_root "/usr/bin/$bin" --version; done
in_root /usr/bin/k8slb-sim run steady --duration 5 --out /tmp/steady --quiet
[[ -s "$root/tmp/steady/report.json" ]] || { echo "FAIL: k8slb-sim wrote no report" >&2; exit 1; }
echo "deb_chroot: k8slb-sim ran the installed scenario 'steady'"
in_root /usr/bin/cmake -S /tmp/src/examples/consumer -B /tmp/consumer-build -DCMAKE_BUILD_TYPE=Release >/dev/null
in_root /usr/bin/cmake --build /tmp/consumer-build -j 2 >/dev/null
echo "deb_chroot: the consumer built against /usr"
in_root /bin/bash /tmp/src/tests/packaging/run_consumer.sh /usr/bin /tmp/consumer-build/consumer 30
INSIDE
echo "deb_chroot: the packages installed and worked in a clean Debian 12 chroot"
