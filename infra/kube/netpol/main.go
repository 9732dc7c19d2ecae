// Command kube-netpol enforces NetworkPolicy on the lab's local cluster: the
// network policy controller of kube-router, alone, as k3s's agent runs it.
// The cluster's bridge plugin filters nothing; this controller turns each
// policy into iptables chains and ipsets for the pods of this node (bridged
// traffic reaches iptables through br_netfilter). kube-router's route
// controller and service proxy are not linked in: kube-proxy serves Services.
//
// infra/kube/build.ts builds it in a module of its own in the lab's cache;
// infra/kube/cluster.ts starts it with the other node agents.
package main

import (
	"flag"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/cloudnativelabs/kube-router/v2/pkg/controllers/netpol"
	"github.com/cloudnativelabs/kube-router/v2/pkg/healthcheck"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "the controller's kubeconfig")
	node := flag.String("hostname-override", "", "the node whose pods it guards")
	services := flag.String("service-cluster-ip-range", "", "the Services' address range")
	syncPeriod := flag.Duration("sync-period", time.Minute, "how often the rules are rewritten whole, besides on every change")
	klog.InitFlags(nil)
	flag.Parse()

	restConfig, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("kubeconfig %s: %v", *kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		klog.Fatalf("client: %v", err)
	}
	config := options.NewKubeRouterConfig()
	config.HostnameOverride = *node
	config.ClusterIPCIDRs = []string{*services}
	config.EnableIPv4 = true
	config.RunFirewall = true
	config.IPTablesSyncPeriod = *syncPeriod

	stop := make(chan struct{})
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	namespaces := factory.Core().V1().Namespaces().Informer()
	policies := factory.Networking().V1().NetworkPolicies().Informer()
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	tables, sets, err := netpol.NewIPTablesHandlers(config)
	if err != nil {
		klog.Fatalf("iptables and ipset: %v", err)
	}
	var ipsetMutex sync.Mutex
	controller, err := netpol.NewNetworkPolicyController(client, config, pods, policies, namespaces, &ipsetMutex, tables, sets)
	if err != nil {
		klog.Fatalf("network policy controller: %v", err)
	}
	if _, err := pods.AddEventHandler(controller.PodEventHandler); err != nil {
		klog.Fatalf("pod events: %v", err)
	}
	if _, err := namespaces.AddEventHandler(controller.NamespaceEventHandler); err != nil {
		klog.Fatalf("namespace events: %v", err)
	}
	if _, err := policies.AddEventHandler(controller.NetworkPolicyEventHandler); err != nil {
		klog.Fatalf("policy events: %v", err)
	}
	// The controller reports its heartbeats to kube-router's health checker, which does not run here.
	heartbeats := make(chan *healthcheck.ControllerHeartbeat, 10)
	go func() {
		for range heartbeats {
		}
	}()
	var running sync.WaitGroup
	running.Add(1)
	go controller.Run(heartbeats, stop, &running)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	close(stop)
	running.Wait()
}
