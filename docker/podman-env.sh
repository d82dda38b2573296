# Podman settings this kind of machine needs, for sourcing: `. docker/podman-env.sh`.
#
# Exports CONTAINERS_CONF naming a containers.conf that podman reads *instead of* the system one
# (nothing in /etc is changed), unless CONTAINERS_CONF is already set. The file holds
#   [engine]     runtime = "runc"          crun refuses a cgroup v1/v2 hybrid ("cgroups in hybrid
#                                          mode not supported"); runc runs there
#                cgroup_manager = "cgroupfs", events_logger = "file"   (when systemd is not PID 1)
#   [containers] default_ulimits = [...]   explicit limits no higher than this process's hard
#                                          limits (nproc at most 32768): without CAP_SYS_RESOURCE
#                                          podman's defaults fail with "setrlimit RLIMIT_NOFILE:
#                                          Operation not permitted"
# Where: $CALDP_PODMAN_CONF, default ${XDG_CONFIG_HOME:-$HOME/.config}/caldp/containers.conf
# (rewritten only when its content changes). Used by docker/build-image.sh, .ci/prepare-podman.sh,
# tests/container/ and caldp's container commands. Sourcing it never exits the calling shell.

_caldp_podman_env() {
    if [ -n "${CONTAINERS_CONF:-}" ]; then
        return 0
    fi
    local conf dir nofile nproc tmp
    conf="${CALDP_PODMAN_CONF:-${XDG_CONFIG_HOME:-${HOME:-/root}/.config}/caldp/containers.conf}"
    dir=$(dirname "$conf")
    nofile=$(ulimit -Hn 2>/dev/null || echo 1024)
    nproc=$(ulimit -Hu 2>/dev/null || echo 4096)
    [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nproc" = unlimited ] && nproc=1048576
    [ "$nofile" -gt 1048576 ] 2>/dev/null && nofile=1048576
    # runc fails "setting rlimit type 6" above 32768 processes here even under a higher hard limit
    [ "$nproc" -gt 32768 ] 2>/dev/null && nproc=32768
    tmp=$(mktemp "${TMPDIR:-/tmp}/caldp-containers-conf.XXXXXX") || return 1
    {
        echo "# written by caldp's docker/podman-env.sh; podman reads it through CONTAINERS_CONF"
        echo "[containers]"
        echo "default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]"
        echo "[engine]"
        if command -v runc >/dev/null 2>&1; then
            echo 'runtime = "runc"'
        fi
        if [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]; then
            echo 'cgroup_manager = "cgroupfs"'
            echo 'events_logger = "file"'
        fi
    } > "$tmp"
    if ! cmp -s "$tmp" "$conf" 2>/dev/null; then
        mkdir -p "$dir" && mv -f "$tmp" "$conf" || { rm -f "$tmp"; return 1; }
    else
        rm -f "$tmp"
    fi
    export CONTAINERS_CONF="$conf"
}
_caldp_podman_env || echo "podman-env.sh: could not write a containers.conf (CONTAINERS_CONF left unset)" >&2
unset -f _caldp_podman_env
