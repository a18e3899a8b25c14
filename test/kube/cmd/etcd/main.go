// etcd, the version kube-apiserver's release pins, for Ballast's tests.
package main

import (
	"os"

	"github.com/ballast-dev/ballast/test/kube/internal/orphan"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	orphan.DieWithParent()
	etcdmain.Main(os.Args)
}
