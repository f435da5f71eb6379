"""The SDK user code imports (re-exported by `kuberun`): decorators, context, errors."""
