# The learner's login shells, as a terminal of the lab starts on a host: the
# environment's addresses and Cassandra logins as exported variables (what
# the course's commands and the sample API use), and the lab's prompt. Only
# interactive shells: a command the lab runs here (`zdm-lab kube env exec`)
# sources the course's lab.sh, which reads the same, and is spared a second
# `zdm-lab env` start.
case $- in
  *i*)
    if command -v zdm-lab >/dev/null; then eval "$(zdm-lab env --shell --export)"; fi
    PS1='\[\e[1;32m\]\u@\h\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '
    # A lab terminal's marks (`zdm-lab kube env shell --prompt-mark --command-mark`): printed, unseen, before
    # each prompt and as each command starts, they tell the lab when a command has ended. Through
    # PROMPT_COMMAND and PS0, which the learner's ~/.bashrc (Debian's, read after this) leaves alone.
    if [ -n "${LAB_PROMPT_MARK:-}" ] && [ -n "${LAB_COMMAND_MARK:-}" ]; then
      lab_prompt_mark=$LAB_PROMPT_MARK
      PROMPT_COMMAND='printf "%s" "$lab_prompt_mark"'
      PS0=$LAB_COMMAND_MARK
    fi
    unset LAB_PROMPT_MARK LAB_COMMAND_MARK
    ;;
esac
