/*
 * The driver a session's bash runs: bash -c DRIVER bash <session dir>.
 *
 * It is one line on purpose: bash parses a whole line before running any of it, so the
 * loop is parsed before a restored snapshot defines aliases or functions (every command
 * of the driver is also called through `builtin`, so a user's function named `read` or
 * `eval` does not replace it), and errors in user commands read "bash: line 1: ...".
 *
 * Start: open the control and status fifos (fds 60 and 61), restore the last snapshot if
 * there is one (variables, functions, aliases, traps, umask; then the shell options as
 * saved in __execd_bo and __execd_so, except those that would break the loop: xtrace is
 * turned back on for the next run instead, verbose, noexec, onecmd and monitor are not
 * restored; then the working directory). Aliases are expanded in user commands, as in
 * an interactive shell, unless a snapshot says otherwise.
 *
 * Each run: read its token (a line on fd 60), then its working directory and command
 * (NUL-separated) from the cmd file; cd there (a failure is the run's exit code 1); set
 * $? to the previous run's code; eval the command inside a one-pass `for`, so that a
 * top-level break or continue ends the run rather than the loop, with fds 60 and 61
 * closed for it (restored after); record the options, switch xtrace and job control off
 * without tracing; write "<token> <code>" on fd 61. Then the snapshot goes to snap.<k>
 * (k alternating) and "<token> saved <k>" follows: the worker renames it to snap. The
 * snapshot is written after the status, so it costs the client no latency.
 *
 * `exit`, `exec`, `set -e` with a failing command, or a signal end the shell instead:
 * the worker reports the process's exit status and the next run starts a fresh shell.
 */
#include "session/session.h"

const char session_driver[] =
    "__execd_dir=$1; builtin shift; builtin unset -v BASH_EXECUTION_STRING; "
    "exec 60<>\"$__execd_dir/ctl\" 61<>\"$__execd_dir/st\" || builtin exit 126; "
    "__execd_status() { builtin return \"$1\"; }; "
    "__execd_opts() { builtin local __execd_l=$1: __execd_o; "
    "while [[ -n $__execd_l ]]; do __execd_o=${__execd_l%%:*}; __execd_l=${__execd_l#*:}; "
    "case $__execd_o in xtrace|verbose|noexec|onecmd|monitor|'') ;; "
    "*) \"${@:2}\" \"$__execd_o\" 2>/dev/null || : ;; esac; done; }; "
    "__execd_ea=1 __execd_rc=0 __execd_k=0 __execd_so= __execd_bo=; "
    "if [[ -r $__execd_dir/snap ]]; then "
    "builtin source -- \"$__execd_dir/snap\" 2>/dev/null || :; "
    "__execd_opts \"$BASHOPTS\" builtin shopt -u; __execd_opts \"$__execd_bo\" builtin shopt -s; "
    "__execd_opts \"$SHELLOPTS\" builtin set +o; __execd_opts \"$__execd_so\" builtin set -o; "
    "builtin cd -- \"${PWD-}\" 2>/dev/null || builtin cd -P . 2>/dev/null || :; "
    "__execd_ea=; if builtin shopt -q expand_aliases; then __execd_ea=1; fi; fi; "
    "builtin shopt -u expand_aliases; "
    "while :; do "
    "IFS= builtin read -r -u 60 __execd_tok || builtin exit 0; "
    "__execd_cwd= __execd_cmd=; "
    "{ IFS= builtin read -r -d '' __execd_cwd; IFS= builtin read -r -d '' __execd_cmd || :; } "
    "<\"$__execd_dir/cmd\" 2>/dev/null || :; "
    "if [[ -n $__execd_ea ]]; then builtin shopt -s expand_aliases; __execd_ea=; fi; "
    "__execd_x=; if [[ :$__execd_so: == *:xtrace:* ]]; then __execd_x=$'builtin set -x\\n'; fi; "
    "if [[ -n $__execd_cwd ]] && ! builtin cd -- \"$__execd_cwd\"; then __execd_rc=1; else "
    "__execd_status \"$__execd_rc\"; "
    "for __execd_ in 1; do builtin eval \"$__execd_x$__execd_cmd\" 60<&- 61>&-; done; "
    "{ __execd_rc=$?; __execd_so=$SHELLOPTS; __execd_bo=$BASHOPTS; builtin set +xm; } "
    "2>/dev/null; fi; "
    "builtin printf '%s %d\\n' \"$__execd_tok\" \"$__execd_rc\" >&61 || :; "
    "__execd_k=$((1 - __execd_k)); builtin unset -v __execd_cmd __execd_x; "
    "{ builtin declare -p; builtin declare -f; builtin alias -p; builtin trap -p; "
    "builtin umask -p; } >|\"$__execd_dir/snap.$__execd_k\" 2>/dev/null || :; "
    "builtin printf '%s saved %d\\n' \"$__execd_tok\" \"$__execd_k\" >&61 || :; "
    "done";
