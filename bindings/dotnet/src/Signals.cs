using System;
using System.Collections.Generic;
using System.Threading;

namespace SingleWriter
{
    /// <summary>
    /// One signal from the writer's ring (<c>sw_signal</c>), or one raised on a managed
    /// <see cref="SignalSink"/>. <see cref="Signal"/> is the full form, <c>name</c> or
    /// <c>name:key</c>, which is what patterns match and what the original package's
    /// <c>SignalEvent.Signal</c> held.
    /// </summary>
    public sealed class SignalEvent
    {
        /// <summary>Creates a signal (for <see cref="SignalSink"/>).</summary>
        public SignalEvent(string name, string key, long seq, DateTimeOffset timestamp,
            SingleWriterStatus status = SingleWriterStatus.Ok, long durationUs = -1, long rows = -1)
        {
            if (name == null) throw new ArgumentNullException("name");
            Name = name;
            Key = key ?? string.Empty;
            Signal = Key.Length == 0 ? name : name + ":" + Key;
            Seq = seq;
            Timestamp = timestamp;
            Status = status;
            DurationUs = durationUs;
            Rows = rows;
        }

        /// <summary>The full form: <c>name</c>, or <c>name:key</c> when there is a key.</summary>
        public string Signal { get; private set; }

        /// <summary>The name, e.g. <c>write.done</c>, <c>cache.hit</c>.</summary>
        public string Name { get; private set; }

        /// <summary>The subject (cache key, table, pragma value, ...); empty if none.</summary>
        public string Key { get; private set; }

        /// <summary>Sequence number: increasing per writer, never reused.</summary>
        public long Seq { get; private set; }

        /// <summary>Same as <see cref="Seq"/> (the original's field name).</summary>
        public long OperationId
        {
            get { return Seq; }
        }

        /// <summary>When the signal was raised (UTC).</summary>
        public DateTimeOffset Timestamp { get; private set; }

        /// <summary>For <c>*.done</c> and <c>*.error</c> signals: the outcome.</summary>
        public SingleWriterStatus Status { get; private set; }

        /// <summary>Duration in microseconds, -1 if not timed.</summary>
        public long DurationUs { get; private set; }

        /// <summary>Rows affected or returned, -1 if none.</summary>
        public long Rows { get; private set; }

        /// <summary>Whether <see cref="Signal"/> equals <paramref name="signal"/>.</summary>
        public bool Is(string signal)
        {
            return string.Equals(Signal, signal, StringComparison.Ordinal);
        }

        /// <summary>Whether <see cref="Signal"/> starts with <paramref name="prefix"/>.</summary>
        public bool StartsWith(string prefix)
        {
            return Signal.StartsWith(prefix, StringComparison.Ordinal);
        }

        /// <summary>Whether <see cref="Signal"/> matches a glob (<c>*</c>, <c>?</c>, anchored, case-sensitive).</summary>
        public bool Matches(string pattern)
        {
            return Glob.Matches(Signal, pattern);
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return "#" + Seq + " " + Signal;
        }
    }

    /// <summary>The library's glob: <c>*</c> any run, <c>?</c> one character, anchored, case-sensitive.</summary>
    public static class Glob
    {
        /// <summary>Whether <paramref name="value"/> matches <paramref name="pattern"/>.</summary>
        public static bool Matches(string value, string pattern)
        {
            if (value == null || pattern == null) return false;
            int v = 0, p = 0, starP = -1, starV = 0;
            while (v < value.Length)
            {
                if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == value[v]))
                {
                    v++;
                    p++;
                }
                else if (p < pattern.Length && pattern[p] == '*')
                {
                    starP = p++;
                    starV = v;
                }
                else if (starP >= 0)
                {
                    p = starP + 1;
                    v = ++starV;
                }
                else return false;
            }
            while (p < pattern.Length && pattern[p] == '*') p++;
            return p == pattern.Length;
        }
    }

    /// <summary>
    /// A small in-process signal window, standing in for the original package's
    /// <c>SignalSink</c> where one component raised <c>cache.invalidate:&lt;key&gt;</c> for a writer
    /// to pick up through <see cref="SqliteSingleWriter.EnableSignalDrivenInvalidation(SignalSink, System.Collections.Generic.IEnumerable{string}, System.TimeSpan?)"/>.
    /// Raising is synchronous: listeners run on the raising thread, and their exceptions are
    /// swallowed. Keeps the newest <c>capacity</c> signals.
    /// </summary>
    public sealed class SignalSink
    {
        private readonly object _lock = new object();
        private readonly Queue<SignalEvent> _window = new Queue<SignalEvent>();
        private readonly int _capacity;
        private long _seq;
        private Action<SignalEvent>[] _listeners = new Action<SignalEvent>[0];

        /// <summary>Creates a sink keeping the newest <paramref name="maxCapacity"/> signals.</summary>
        public SignalSink(int maxCapacity = 1000)
        {
            _capacity = Math.Max(1, maxCapacity);
        }

        /// <summary>Raised after a signal is added; handlers run on the raising thread.</summary>
        public event Action<SignalEvent> SignalRaised
        {
            add
            {
                lock (_lock)
                {
                    var l = new List<Action<SignalEvent>>(_listeners) { value };
                    _listeners = l.ToArray();
                }
            }
            remove
            {
                lock (_lock)
                {
                    var l = new List<Action<SignalEvent>>(_listeners);
                    l.Remove(value);
                    _listeners = l.ToArray();
                }
            }
        }

        /// <summary>Raises a signal given in full form (<c>name</c> or <c>name:key</c>).</summary>
        public SignalEvent Raise(string signal)
        {
            if (signal == null) throw new ArgumentNullException("signal");
            int colon = signal.IndexOf(':');
            return colon < 0
                ? Raise(signal, null)
                : RaiseEvent(signal.Substring(0, colon), signal.Substring(colon + 1));
        }

        /// <summary>Raises a signal with a name and a key.</summary>
        public SignalEvent Raise(string name, string key)
        {
            if (name == null) throw new ArgumentNullException("name");
            return RaiseEvent(name, key);
        }

        private SignalEvent RaiseEvent(string name, string key)
        {
            var e = new SignalEvent(name, key, Interlocked.Increment(ref _seq), DateTimeOffset.UtcNow);
            lock (_lock)
            {
                _window.Enqueue(e);
                while (_window.Count > _capacity) _window.Dequeue();
            }
            foreach (var l in _listeners)
            {
                try
                {
                    l(e);
                }
                catch (Exception)
                {
                    // A listener's failure must not fail the raiser.
                }
            }
            return e;
        }

        /// <summary>A snapshot of the window, oldest first.</summary>
        public IReadOnlyList<SignalEvent> Sense()
        {
            lock (_lock) return _window.ToArray();
        }

        /// <summary>Signals in the window that match a glob.</summary>
        public IReadOnlyList<SignalEvent> Sense(string pattern)
        {
            var result = new List<SignalEvent>();
            foreach (var e in Sense())
                if (Glob.Matches(e.Signal, pattern))
                    result.Add(e);
            return result;
        }

        /// <summary>Number of signals in the window.</summary>
        public int Count
        {
            get { lock (_lock) return _window.Count; }
        }
    }
}
