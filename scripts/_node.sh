# Sourced by scripts/test: install a Node test harness's packages from its committed lock file,
# quietly, only when node_modules is missing or the lock changed since the last install.
# Without npm nothing is installed; the harness's tests then skip, or fail under CI=true.
node_ci() {
    dir=$1
    stamp="$dir/node_modules/.installed-lock"
    if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "npm not found: not installing $dir" >&2
        return 0
    fi
    echo "npm ci in $dir ..." >&2
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1); then
        cat "$dir/npm-ci.log" >&2
        return 1
    fi
    rm -f "$dir/npm-ci.log"
    cp "$dir/package-lock.json" "$stamp"
}
