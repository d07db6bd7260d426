package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// app is what every command shares: where to write, and how to reach the
// API server (the user's kubeconfig; tests set config).
type app struct {
	out, errOut io.Writer
	flags       *genericclioptions.ConfigFlags
	config      *rest.Config // set by tests instead of a kubeconfig
}

// silentError ends the command with a non-zero exit code after the command
// has already said why (a summary table, the list of problems).
type silentError struct{ msg string }

func (e *silentError) Error() string { return e.msg }

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use: "kubectl-wuxiao",
		// Run as a kubectl plugin, the help says what the user types.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl wuxiao"},
		Short:       "五小监督平台：镇（街道）IT 人员的工具——批量导入村、打印二维码海报、查看状态",
		Long: `kubectl wuxiao 帮镇（街道）的 IT 人员：
  · 从 Excel/CSV 表格批量导入、更新村（社区），导入前检查每一行；
  · 导出本镇的村到表格；
  · 打印每个村的“码上监督”二维码海报（A4 PDF）；
  · 查看镇和村是否就绪、各服务是否已上线。
只需要操作员为镇管理员（Town 的 spec.admins）创建的权限。`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if a.config == nil {
		a.flags = genericclioptions.NewConfigFlags(true)
		a.flags.AddFlags(root.PersistentFlags())
	}
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.AddCommand(newStatusCmd(a), newVillagesCmd(a), newQRCmd(a), newOfficialsCmd(a))
	return root
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := wuxiaov1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

func (a *app) restConfig() (*rest.Config, error) {
	if a.config != nil {
		return rest.CopyConfig(a.config), nil
	}
	cfg, err := a.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("读取 kubeconfig：%w", err)
	}
	return cfg, nil
}

// client is a client with watch support, in the user's name.
func (a *app) client() (client.WithWatch, error) {
	cfg, err := a.restConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kubectl-wuxiao"
	// Imports apply hundreds of villages: client-go's default of 5 QPS
	// would make them slower than kubectl apply.
	cfg.QPS, cfg.Burst = 50, 100
	return client.NewWithWatch(cfg, client.Options{Scheme: newScheme()})
}

// explain turns the API server's refusals into what a town IT person can
// act on: which right is missing and who grants it.
func explain(err error, what, namespace string) error {
	if err == nil {
		return nil
	}
	switch {
	case apierrors.IsForbidden(err):
		where, role := "集群", "wuxiao-village-admin"
		if namespace != "" {
			where = "命名空间 " + namespace
		}
		if strings.HasPrefix(namespace, "recovery-") {
			role = "wuxiao-recovery-reader"
		}
		return fmt.Errorf("没有权限%s（%s）。镇管理员的权限来自 Town 的 spec.admins：请平台管理员把你的用户或组加入该镇的 spec.admins，操作员会在 %s 中授予角色 %s。服务器的回答：%v",
			what, where, where, role, reason(err))
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("API 服务器不认识你的凭据（%s）：kubeconfig 中的证书或令牌过期了？%v", what, reason(err))
	case apierrors.IsNotFound(err) && namespace != "":
		return fmt.Errorf("%s：命名空间 %s 不存在——镇的名字对吗？（kubectl wuxiao status 列出能看到的镇）", what, namespace)
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return fmt.Errorf("%s：%v", what, reason(err))
	}
	return fmt.Errorf("%s：%w", what, err)
}

func reason(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status().Message
	}
	return err.Error()
}

// townNamespace is the namespace of the town's villages.
func townNamespace(town string) string { return wuxiaov1.TownNamespace(town) }

// createFile opens path for writing; - is standard output.
func (a *app) createFile(path string) (io.WriteCloser, error) {
	if path == "-" {
		return nopCloser{a.out}, nil
	}
	return os.Create(path)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func requireTown(town string) error {
	if strings.TrimSpace(town) == "" {
		return errors.New("请用 --town 指定镇（Town 的名字，如 xikou；村在命名空间 town-<名字> 中）")
	}
	return nil
}
