/**
 * The bash scripts exec-shell.ts runs in the pod beside what it was asked to
 * run, since the API server ends nothing of a command whose client went
 * away: WATCHED ends a command without a TTY, SESSION_NOTE and HANGUP end a
 * terminal's shell and its jobs, each once the client's end closes a
 * stream's input. Plain bash and /proc: the workstation image has no procps.
 * Kept apart from exec-shell.ts, which runs as it is imported, so that a
 * test can run them in a real bash (test/unit/exec-scripts.test.ts).
 */

/**
 * The remote side of a command without a TTY (bash in the pod, the command
 * as its arguments): the command in a session of its own with no input, and
 * beside it a reader of the stream's input, which ends when the client's end
 * closes it and then ends the command's process group.
 */
export const WATCHED = [
  // A job in the background reads /dev/null unless told otherwise: the stream's input is handed to the reader as 3.
  'exec 3<&0',
  'setsid "$@" </dev/null 3<&- & command=$!',
  '{ while read -r _; do :; done; kill -TERM -- "-$command" 2>/dev/null && sleep 5 && kill -KILL -- "-$command" 2>/dev/null; } <&3 3<&- & watch=$!',
  'exec 3<&-',
  'wait "$command"; status=$?',
  'kill "$watch" 2>/dev/null',
  'exit "$status"',
].join('\n');

/**
 * The shell of a terminal, run by `bash -c` with this before it: it writes
 * its session's id (its own process id: the TTY stream makes it a session
 * leader) into a file named for the client ($0), and becomes the shell.
 */
export const SESSION_NOTE = 'sid() { set -- ${1##*) }; echo "$4"; }; read -r stat < /proc/$$/stat; [ "$(sid "$stat")" = "$$" ] && echo "$$" > "/tmp/.zdm-lab-terminal-$0"; exec "$@"';

/**
 * The remote side of a terminal's hangup (bash, the client's name as $1):
 * it reads the stream's input until the client's end closes it, then gives
 * every process of the shell's session HUP, and KILL to what is left 5 s
 * later. The image has no procps: the sessions are read from /proc.
 */
export const HANGUP = [
  'while read -r _; do :; done',
  'file="/tmp/.zdm-lab-terminal-$1"',
  'read -r session < "$file" 2>/dev/null || exit 0',
  'rm -f "$file"',
  'members() { for p in /proc/[0-9]*; do read -r stat < "$p/stat" 2>/dev/null || continue; set -- ${stat##*) }; [ "$4" = "$session" ] && echo "${p#/proc/}"; done; }',
  'signal() { for p in $(members); do kill -"$1" "$p" 2>/dev/null; done; }',
  'signal HUP',
  'for _ in 1 2 3 4 5; do [ -z "$(members)" ] && exit 0; sleep 1; done',
  'signal KILL',
].join('\n');
