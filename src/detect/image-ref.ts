// Container image references, normalised as container runtimes resolve them (the `images[*]` virtual field).

/** A container image reference, normalised as container runtimes resolve it. */
export interface ImageRef {
  /** The image as written. */
  image: string;
  /** Registry host (and port), lower-case: `docker.io` when the image names none. */
  registry: string;
  /** Path in the registry: `library/nginx` for `nginx`. */
  repository: string;
  /** `registry/repository`, without tag or digest. */
  name: string;
  tag?: string;
  digest?: string;
}

/**
 * `nginx` → docker.io/library/nginx, `foo/bar:1` → docker.io/foo/bar tag 1, `registry.corp:5000/a/b@sha256:…`
 * → registry registry.corp:5000. The first segment is a registry when it contains `.` or `:`, is `localhost`,
 * or has upper-case letters (as in the reference grammar); `index.docker.io` is docker.io.
 */
export function parseImageRef(image: string): ImageRef | undefined {
  let rest = image.trim();
  if (rest === '') return undefined;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1) || undefined;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1) || undefined;
    rest = rest.slice(0, colon);
  }
  if (rest === '') return undefined;
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  let registry = 'docker.io';
  let repository = rest;
  if (slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first.toLowerCase();
    repository = rest.slice(slash + 1);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (repository === '') return undefined;
  const ref: ImageRef = { image, registry, repository, name: `${registry}/${repository}` };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

