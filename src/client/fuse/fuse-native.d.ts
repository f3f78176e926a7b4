/** The parts of fuse-native 2.2.6 this project uses (the package ships no types). */
declare module 'fuse-native' {
  type Cb = (...args: any[]) => void
  interface FuseOpts {
    force?: boolean
    mkdir?: boolean
    timeout?: number | false
    displayFolder?: boolean
    debug?: boolean
    allowOther?: boolean
    autoUnmount?: boolean
    defaultPermissions?: boolean
    maxRead?: number
    fsname?: string
    subtype?: string
    uid?: number
    gid?: number
    entryTimeout?: number
    attrTimeout?: number
    acAttrTimeout?: number
    [key: string]: unknown
  }
  class Fuse {
    constructor(mnt: string, ops: Record<string, Cb>, opts?: FuseOpts)
    readonly mnt: string
    readonly opts: FuseOpts
    mount(cb: (err: Error | null) => void): void
    unmount(cb: (err: Error | null) => void): void
    static unmount(mnt: string, cb: (err: Error | null) => void): void
    protected _fuseOptions(): string
    /** The native fuse_thread_t of the mount (allocated by mount()); libfuse's private data. */
    protected _thread: Buffer | null
  }
  export = Fuse
}
