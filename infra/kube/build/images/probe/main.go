// A one-binary image for checking the lab's local cluster: without
// arguments it runs until stopped (a pod's main process); `probe say WORDS`
// prints the words, `probe hostname` the pod's host name, `probe connect
// HOST:PORT` whether a TCP connection opens and `probe resolve NAME` the
// addresses NAME resolves to through the pod's resolver (the cluster DNS):
// what the tests run through the API server's exec stream.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "say":
			fmt.Println(strings.Join(os.Args[2:], " "))
			return
		case "hostname":
			name, err := os.Hostname()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(name)
			return
		case "connect":
			if len(os.Args) != 3 {
				fmt.Fprintln(os.Stderr, "usage: probe connect HOST:PORT")
				os.Exit(2)
			}
			conn, err := net.DialTimeout("tcp", os.Args[2], 5*time.Second)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			conn.Close()
			fmt.Println("connected to", os.Args[2])
			return
		case "resolve":
			if len(os.Args) != 3 {
				fmt.Fprintln(os.Stderr, "usage: probe resolve NAME")
				os.Exit(2)
			}
			addresses, err := net.LookupHost(os.Args[2])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(strings.Join(addresses, " "))
			return
		default:
			fmt.Fprintf(os.Stderr, "probe: unknown command %q (say, hostname, connect, resolve)\n", os.Args[1])
			os.Exit(2)
		}
	}
	fmt.Println("probe running")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
