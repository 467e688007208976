// Package modeldigest computes the digest of a model's files exactly as
// OpenSSF model signing v1.0 does with its default configuration (the
// "files" serialization with sha256, PyPI model-signing 1.1.1), so that the
// digest mlreg-action records equals the subject digest of a signature that
// `model_signing sign` makes of the same directory:
//
//   - every regular file below the model root is hashed with sha256;
//   - files are named by their path relative to the root, "/"-separated;
//   - the paths model_signing leaves out by default are left out: .git,
//     .gitattributes, .github and .gitignore (with what is under them), and
//     the signature model.sig, all at the root only. Other names that start
//     with ".git" (.gitmodules, .gitkeep) and a nested .git are hashed, as
//     model_signing hashes them;
//   - files are ordered as Python orders pathlib paths: component by
//     component, so "a/b" sorts before "a b" and "a-c";
//   - the root digest is sha256 over the concatenated raw 32-byte file
//     digests in that order.
//
// The files come from a Source (a directory, an artifact store), listed once
// and read as streams: Compute hashes a bounded number of files at once,
// each through one fixed buffer, so memory does not grow with the size of a
// file or of the model. It refuses what model_signing refuses or what no
// store should list: symbolic links and special files, absolute paths, "."
// and ".." segments, empty segments and names that are not UTF-8. A file
// whose byte count differs from its listed size, and a listing that differs
// when it is read again after hashing, are errors that name the file: the
// model changed while it was hashed, and no digest is returned. Unlike
// model_signing, Compute refuses a model with no file to hash (ErrEmpty).
package modeldigest
