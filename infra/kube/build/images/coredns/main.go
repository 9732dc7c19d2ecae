// The cluster DNS of the lab's local Kubernetes cluster: CoreDNS with only
// the plugins it needs to answer for the cluster's Services and pods
// (kubernetes), to listen on one address only (bind), to say when it is
// ready (ready) and to log what fails (errors). It forwards nothing: pods
// have no route off the host.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugins' order in a server block, as CoreDNS's own list has them.
var directives = []string{"bind", "errors", "ready", "kubernetes"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
