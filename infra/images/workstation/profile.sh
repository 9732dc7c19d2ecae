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
    ;;
esac
