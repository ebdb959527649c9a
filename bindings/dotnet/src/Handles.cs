// One SafeHandle per native handle type: the writer (sw_writer_close) and result sets
// (sw_rows_free). Signal polls are freed within the call that makes them, and sw_txn is borrowed
// (valid only inside the transaction callback), so neither needs a SafeHandle.
using System;
using System.Runtime.InteropServices;

namespace SingleWriter
{
    /// <summary>
    /// One handle from <c>sw_writer_open</c>. Released exactly once with <c>sw_writer_close</c>:
    /// by <see cref="SqliteSingleWriter.DisposeAsync"/>, or by the finalizer as a backstop.
    /// Closing one handle leaves the other handles of the same database working; the native
    /// writer drains and closes when its last handle closes.
    /// </summary>
    internal sealed class WriterHandle : SafeHandle
    {
        public WriterHandle() : base(IntPtr.Zero, true)
        {
        }

        internal WriterHandle(IntPtr h) : base(IntPtr.Zero, true)
        {
            SetHandle(h);
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            // May block while the native writer drains (when this is the last handle). Never
            // called on a library callback thread: the binding only releases its references on
            // threads it owns (see SqliteSingleWriter.DisposeAsync).
            return Native.sw_writer_close(handle) == 0;
        }
    }

    /// <summary>An immutable native result set (<c>sw_rows</c>), freed with <c>sw_rows_free</c>.</summary>
    internal sealed class RowsHandle : SafeHandle
    {
        public RowsHandle() : base(IntPtr.Zero, true)
        {
        }

        internal RowsHandle(IntPtr h) : base(IntPtr.Zero, true)
        {
            SetHandle(h);
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            Native.sw_rows_free(handle);
            return true;
        }
    }
}
