package driver

import (
	"context"
	"path"
	"runtime/debug"
	"time"

	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/metrics"
)

// The one unary interceptor of the CSI server: a request-scoped logger in
// the context, a sanitised log of request and response, the operation
// metrics, panic recovery, and the guarantee that only status errors leave
// the process (a plain error would reach the sidecars as Unknown).

// Log verbosity. Probe is called every few seconds by the livenessprobe
// sidecar and would drown everything else.
const (
	vOutcome      = 2
	vPayload      = 4
	vProbePayload = 6
)

// Getters shared by CSI request messages, for the logger's key/values.
type (
	volumeIDRequest       interface{ GetVolumeId() string }
	sourceVolumeIDRequest interface{ GetSourceVolumeId() string }
	snapshotIDRequest     interface{ GetSnapshotId() string }
	nodeIDRequest         interface{ GetNodeId() string }
	nameRequest           interface{ GetName() string }
)

// unaryInterceptor returns the interceptor. base is the logger to derive
// from (the zero Logger: klog's, via the context); ops may be nil.
func unaryInterceptor(base klog.Logger, ops *metrics.Operations) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		method := path.Base(info.FullMethod)
		logger := base
		if logger.GetSink() == nil {
			logger = klog.FromContext(ctx)
		}
		logger = logger.WithValues(requestKeys(method, req)...)
		ctx = klog.NewContext(ctx, logger)

		outcome, payload := vOutcome, vPayload
		if method == "Probe" {
			outcome, payload = vProbePayload, vProbePayload
		}
		logger.V(payload).Info("GRPC request", "request", protosanitizer.StripSecrets(req))

		resp, err := callRecovering(ctx, logger, method, req, handler)
		if err != nil {
			if _, isStatus := status.FromError(err); !isStatus {
				logger.Error(err, "GRPC handler returned a non-status error; answering Internal")
				err = toStatus(err)
			}
		}
		code := status.Code(err)
		elapsed := time.Since(start)
		ops.Observe(method, code.String(), elapsed)
		if err != nil {
			if expectedFailure(code) {
				// Answers the sidecars retry or that describe the caller's
				// request: an RDS outage must not flood the log at error level.
				logger.V(2).Info("GRPC call failed", "err", err, "code", code.String(), "duration", elapsed)
			} else {
				logger.Error(err, "GRPC call failed", "code", code.String(), "duration", elapsed)
			}
			return nil, err
		}
		logger.V(outcome).Info("GRPC call succeeded", "duration", elapsed)
		logger.V(payload).Info("GRPC response", "response", protosanitizer.StripSecrets(resp))
		return resp, nil
	}
}

// expectedFailure reports codes that are part of normal operation: retryable
// conditions (outage, lock contention, idempotency races) and answers about
// the request itself. Internal, Unknown and the like stay errors.
func expectedFailure(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.Aborted, codes.NotFound, codes.AlreadyExists,
		codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange,
		codes.ResourceExhausted, codes.Canceled, codes.DeadlineExceeded:
		return true
	}
	return false
}

// callRecovering runs the handler and turns a panic into Internal, so one
// bad request cannot take the controller (and every attachment) down.
func callRecovering(ctx context.Context, logger klog.Logger, method string, req any, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error(nil, "Panic in GRPC handler", "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "internal error in %s (panic: %v)", method, r)
		}
	}()
	return handler(ctx, req)
}

// requestKeys names the objects a request is about, for the logger.
func requestKeys(method string, req any) []any {
	kv := []any{"method", method}
	add := func(key, val string) {
		if val != "" {
			kv = append(kv, key, val)
		}
	}
	if r, ok := req.(volumeIDRequest); ok {
		add("volumeID", r.GetVolumeId())
	}
	if r, ok := req.(sourceVolumeIDRequest); ok {
		add("volumeID", r.GetSourceVolumeId())
	}
	if r, ok := req.(snapshotIDRequest); ok {
		add("snapshotID", r.GetSnapshotId())
	}
	if r, ok := req.(nodeIDRequest); ok {
		add("nodeID", r.GetNodeId())
	}
	if r, ok := req.(nameRequest); ok {
		add("name", r.GetName())
	}
	return kv
}
