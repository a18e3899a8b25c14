// kube-apiserver as the release builds it, for Ballast's tests.
package main

import (
	"os"

	"github.com/ballast-dev/ballast/test/kube/internal/orphan"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	orphan.DieWithParent()
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
