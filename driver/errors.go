package driver

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
)

// This file is the only place that maps errors to gRPC codes. The sidecars
// retry Unavailable, DeadlineExceeded, Aborted, ResourceExhausted and
// Canceled and treat every other code as final, so the mapping decides
// whether Kubernetes keeps trying: a transport failure must never surface as
// Internal or NotFound (the earlier driver's outage lesson).

// errNotConnected is returned by every RDS-touching RPC while the connection
// FSM is not Connected: retryable at once, without waiting for the RDS.
var errNotConnected = status.Error(codes.Unavailable, "RDS is not connected; retry later")

// invalidArg builds an InvalidArgument status.
func invalidArg(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// busy answers a request for an id that already has one in flight.
func busy(id string) error {
	return status.Errorf(codes.Aborted, "an operation on %s is already in progress", id)
}

// rdsStatus maps an error from rds.Client (or from the Attachments tracker)
// to a status. op names the RPC and id the volume or snapshot, so the
// message is useful on its own in kubectl describe.
func rdsStatus(err error, op, id string) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var code codes.Code
	switch {
	case errors.Is(err, rds.ErrUnavailable), errors.Is(err, ErrAttachmentsNotReady):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, rds.ErrNoSpace):
		code = codes.ResourceExhausted
	case errors.Is(err, rds.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, rds.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, rds.ErrAlreadyExists):
		code = codes.AlreadyExists
	case errors.Is(err, ErrAttachedElsewhere):
		code = codes.FailedPrecondition
	default:
		code = codes.Internal
	}
	return status.Error(code, fmt.Sprintf("%s %s: %v", op, id, err))
}

// toStatus is the interceptor's safety net: any error that is not already
// a status becomes Internal (never Unknown, which the sidecars treat as
// final without a useful message).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Internal, "internal error: %v", err)
}
