package videos

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Objects is the part of the S3 client that removes a video's files.
type Objects interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// DeleteFiles removes every file of a video: its succeeded file and
// thumbnail and the uploads (videos and thumbnails) of attempts that never recorded theirs (a worker killed between
// its upload and its Succeed). Only the video's deletion does this; a
// worker deletes nothing but its own upload.
func DeleteFiles(ctx context.Context, o Objects, bucket string, v Video) error {
	prefix := FilesPrefix(v.Env, v.Workspace, v.ID)
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix}
	keys := map[string]bool{}
	for _, k := range []string{v.S3Key, v.ThumbnailKey} {
		if k != "" {
			keys[k] = true
		}
	}
	for {
		out, err := o.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("list files of %s: %w", v.ID, err)
		}
		for _, obj := range out.Contents {
			keys[*obj.Key] = true
		}
		if out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	for k := range keys {
		if _, err := o.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &k}); err != nil {
			return fmt.Errorf("delete file of %s: %w", v.ID, err)
		}
	}
	return nil
}
