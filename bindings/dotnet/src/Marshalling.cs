// UTF-8 marshalling and parameter binding.
//
// Every string that goes to native code is encoded here to NUL-terminated UTF-8 in an unmanaged
// scratch block (one per thread, reused), together with the sw_param array that points into it.
// The library copies parameters before it returns, so the block is reused by the next call.
// Nothing here depends on UnmanagedType.LPUTF8Str, which older Mono versions lack.
using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace SingleWriter
{
    internal static unsafe class Utf8
    {
        internal static readonly UTF8Encoding Encoding = new UTF8Encoding(false, false);

        /// <summary>Decodes a NUL-terminated UTF-8 string; null for a NULL pointer.</summary>
        internal static string FromNative(byte* p)
        {
            if (p == null) return null;
            int n = 0;
            while (p[n] != 0) n++;
            return n == 0 ? string.Empty : Encoding.GetString(p, n);
        }

        internal static string FromNative(byte* p, int len)
        {
            if (p == null || len == 0) return string.Empty;
            return Encoding.GetString(p, len);
        }

        /// <summary>Reads a library-allocated string, frees it with sw_string_free.</summary>
        internal static string TakeNativeString(IntPtr p)
        {
            try
            {
                return FromNative((byte*)p);
            }
            finally
            {
                Native.sw_string_free((byte*)p);
            }
        }

        internal static void CheckNoNul(string s, string what)
        {
            if (s.IndexOf('\0') >= 0)
                throw new ArgumentException(what + " must not contain a NUL character", what);
        }
    }

    /// <summary>One parameter, converted from a .NET value to the library's value kinds.</summary>
    internal struct BoundParam
    {
        public string Name; // null: positional
        public uint Type;
        public long Integer;
        public double Real;
        public string Text;
        public byte[] Blob;
    }

    /// <summary>
    /// A per-thread unmanaged buffer for one native call's arguments. <see cref="Rent"/> with the
    /// measured size, write the arguments, make the call, <see cref="Dispose"/>. Nested use on the
    /// same thread (a transaction callback making calls while the outer call runs) gets a fresh
    /// buffer, because a rented buffer is taken out of the thread slot until returned.
    /// </summary>
    internal sealed unsafe class Scratch : IDisposable
    {
        [ThreadStatic] private static Scratch _cached;
        private const int KeepAtMost = 64 * 1024;

        private byte* _buf;
        private int _cap;
        private int _used;

        internal static Scratch Rent(int bytes)
        {
            var s = _cached;
            _cached = null;
            if (s == null) s = new Scratch();
            s.Reserve(bytes);
            return s;
        }

        private void Reserve(int bytes)
        {
            _used = 0;
            if (bytes <= _cap) return;
            Free();
            int cap = 256;
            while (cap < bytes) cap = checked(cap * 2);
            _buf = (byte*)Marshal.AllocHGlobal(cap);
            _cap = cap;
        }

        private void Free()
        {
            if (_buf != null)
            {
                Marshal.FreeHGlobal((IntPtr)_buf);
                _buf = null;
                _cap = 0;
            }
        }

        public void Dispose()
        {
            if (_cap > KeepAtMost) Free();
            _cached = this;
        }

        ~Scratch()
        {
            Free();
        }

        /// <summary>Bytes to reserve for a string written with <see cref="Str(string)"/>.</summary>
        internal static int Measure(string s)
        {
            return s == null ? 0 : Utf8.Encoding.GetByteCount(s) + 1 + 8;
        }

        internal static int Measure(BoundParam[] ps)
        {
            if (ps == null || ps.Length == 0) return 0;
            int n = ps.Length * sizeof(Native.SwParam) + 8;
            foreach (var p in ps)
            {
                n += Measure(p.Name);
                if (p.Type == Native.TypeText) n += Measure(p.Text);
                else if (p.Type == Native.TypeBlob) n += p.Blob.Length + 8;
            }
            return n;
        }

        internal byte* Alloc(int bytes)
        {
            int start = (_used + 7) & ~7;
            if (start + bytes > _cap) throw new InvalidOperationException("SingleWriter: scratch buffer overrun (bug)");
            _used = start + bytes;
            return _buf + start;
        }

        /// <summary>Writes NUL-terminated UTF-8; null stays NULL.</summary>
        internal byte* Str(string s)
        {
            int ignored;
            return Str(s, out ignored);
        }

        internal byte* Str(string s, out int length)
        {
            length = 0;
            if (s == null) return null;
            int max = _cap - ((_used + 7) & ~7);
            byte* p = Alloc(0);
            int n;
            fixed (char* c = s)
            {
                n = Utf8.Encoding.GetBytes(c, s.Length, p, max - 1);
            }
            p[n] = 0;
            _used += n + 1;
            length = n;
            return p;
        }

        internal Native.SwParam* Params(BoundParam[] ps)
        {
            if (ps == null || ps.Length == 0) return null;
            var arr = (Native.SwParam*)Alloc(ps.Length * sizeof(Native.SwParam));
            for (int i = 0; i < ps.Length; i++)
            {
                var p = ps[i];
                arr[i].Name = Str(p.Name);
                arr[i].Value.Type = p.Type;
                arr[i].Value.Integer = p.Integer;
                arr[i].Value.Real = p.Real;
                arr[i].Value.Data = null;
                arr[i].Value.Len = UIntPtr.Zero;
                if (p.Type == Native.TypeText)
                {
                    int len;
                    byte* d = Str(p.Text, out len);
                    arr[i].Value.Data = d;
                    arr[i].Value.Len = (UIntPtr)(uint)len;
                }
                else if (p.Type == Native.TypeBlob)
                {
                    byte* d = Alloc(p.Blob.Length);
                    if (p.Blob.Length > 0) Marshal.Copy(p.Blob, 0, (IntPtr)d, p.Blob.Length);
                    arr[i].Value.Data = d;
                    arr[i].Value.Len = (UIntPtr)(uint)p.Blob.Length;
                }
            }
            return arr;
        }
    }

    /// <summary>
    /// Turns the caller's parameters into <see cref="BoundParam"/>s. Accepted forms:
    /// null (none); a dictionary (<c>IReadOnlyDictionary&lt;string, object&gt;</c>,
    /// <c>IDictionary&lt;string, object&gt;</c>, any non-generic <c>IDictionary</c>, or a sequence of
    /// <c>KeyValuePair&lt;string, object&gt;</c>): each key is a parameter name; an <c>object[]</c>
    /// (or any other <c>IList</c>): positional parameters ?1, ?2, ...; any other object (an anonymous object, a POCO): each public
    /// readable non-indexer property is a parameter of that name.
    /// A name may be written bare ("Name") or with its prefix ("@Name", ":Name", "$Name"): it binds to
    /// whichever prefix the SQL uses. Named values the SQL does not mention are left out (as
    /// Microsoft.Data.Sqlite and Dapper do), so one object can serve several statements.
    /// </summary>
    internal static class ParameterBinder
    {
        private static readonly BoundParam[] None = new BoundParam[0];
        private static readonly ConcurrentDictionary<Type, PropertyInfo[]> PropertyCache =
            new ConcurrentDictionary<Type, PropertyInfo[]>();
        private static readonly ConcurrentDictionary<string, HashSet<string>> SqlNames =
            new ConcurrentDictionary<string, HashSet<string>>(StringComparer.Ordinal);

        internal static BoundParam[] Bind(string sql, object parameters)
        {
            if (parameters == null) return None;
            var roDict = parameters as IReadOnlyDictionary<string, object>;
            if (roDict != null) return Named(sql, roDict);
            var dict = parameters as IDictionary<string, object>;
            if (dict != null) return Named(sql, dict);
            var ndict = parameters as IDictionary;
            if (ndict != null)
            {
                var list = new List<KeyValuePair<string, object>>(ndict.Count);
                foreach (DictionaryEntry e in ndict)
                {
                    var k = e.Key as string;
                    if (k == null) throw new ArgumentException("SingleWriter: dictionary parameter keys must be strings");
                    list.Add(new KeyValuePair<string, object>(k, e.Value));
                }
                return Named(sql, list);
            }
            var kvs = parameters as IEnumerable<KeyValuePair<string, object>>;
            if (kvs != null) return Named(sql, kvs);
            if (parameters is string || parameters is byte[] || parameters.GetType().IsPrimitive)
                throw new ArgumentException(
                    "SingleWriter: parameters must be an object with properties, a dictionary or an object[]; got " +
                    parameters.GetType().Name);
            var positional = parameters as IList;
            if (positional != null)
            {
                var result = new BoundParam[positional.Count];
                for (int i = 0; i < result.Length; i++)
                    result[i] = Convert(null, positional[i], "?" + (i + 1));
                return result;
            }
            return FromProperties(sql, parameters);
        }

        private static BoundParam[] Named(string sql, IEnumerable<KeyValuePair<string, object>> pairs)
        {
            var used = NamesIn(sql);
            var result = new List<BoundParam>();
            foreach (var kv in pairs)
            {
                if (string.IsNullOrEmpty(kv.Key)) throw new ArgumentException("SingleWriter: empty parameter name");
                if (!used.Contains(Bare(kv.Key))) continue;
                result.Add(Convert(kv.Key, kv.Value, kv.Key));
            }
            return result.ToArray();
        }

        private static BoundParam[] FromProperties(string sql, object o)
        {
            var props = PropertyCache.GetOrAdd(o.GetType(), t =>
            {
                var list = new List<PropertyInfo>();
                foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
                    if (p.CanRead && p.GetIndexParameters().Length == 0 && p.GetGetMethod() != null)
                        list.Add(p);
                return list.ToArray();
            });
            var used = NamesIn(sql);
            var result = new List<BoundParam>(props.Length);
            foreach (var p in props)
            {
                if (!used.Contains(p.Name)) continue;
                result.Add(Convert(p.Name, p.GetValue(o, null), p.Name));
            }
            return result.ToArray();
        }

        private static string Bare(string name)
        {
            char c = name[0];
            return c == '@' || c == ':' || c == '$' ? name.Substring(1) : name;
        }

        /// <summary>
        /// The named parameters (without prefix) that the SQL text uses, skipping string
        /// literals, quoted identifiers and comments. Cached per SQL text.
        /// </summary>
        internal static HashSet<string> NamesIn(string sql)
        {
            HashSet<string> names;
            if (SqlNames.TryGetValue(sql, out names)) return names;
            names = Scan(sql);
            if (SqlNames.Count > 4096) SqlNames.Clear();
            SqlNames.TryAdd(sql, names);
            return names;
        }

        private static HashSet<string> Scan(string sql)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            int i = 0, n = sql.Length;
            while (i < n)
            {
                char c = sql[i];
                if (c == '\'' || c == '"' || c == '`')
                {
                    i++;
                    while (i < n)
                    {
                        if (sql[i] == c)
                        {
                            if (i + 1 < n && sql[i + 1] == c) { i += 2; continue; }
                            break;
                        }
                        i++;
                    }
                    i++;
                }
                else if (c == '[')
                {
                    while (i < n && sql[i] != ']') i++;
                    i++;
                }
                else if (c == '-' && i + 1 < n && sql[i + 1] == '-')
                {
                    while (i < n && sql[i] != '\n') i++;
                }
                else if (c == '/' && i + 1 < n && sql[i + 1] == '*')
                {
                    i += 2;
                    while (i + 1 < n && !(sql[i] == '*' && sql[i + 1] == '/')) i++;
                    i += 2;
                }
                else if ((c == '@' || c == ':' || c == '$') && i + 1 < n && IsIdent(sql[i + 1]))
                {
                    int start = ++i;
                    while (i < n && IsIdent(sql[i])) i++;
                    names.Add(sql.Substring(start, i - start));
                }
                else i++;
            }
            return names;
        }

        private static bool IsIdent(char c)
        {
            return c == '_' || char.IsLetterOrDigit(c) || c > 0x7f;
        }

        internal static BoundParam Convert(string name, object v, string what)
        {
            var p = new BoundParam { Name = name };
            if (v == null || v is DBNull)
            {
                p.Type = Native.TypeNull;
                return p;
            }
            var s = v as string;
            if (s != null)
            {
                p.Type = Native.TypeText;
                p.Text = s;
                return p;
            }
            var b = v as byte[];
            if (b != null)
            {
                p.Type = Native.TypeBlob;
                p.Blob = b;
                return p;
            }
            if (v is Enum)
            {
                p.Type = Native.TypeInteger;
                p.Integer = System.Convert.ToInt64(v, CultureInfo.InvariantCulture);
                return p;
            }
            switch (Type.GetTypeCode(v.GetType()))
            {
                case TypeCode.Boolean:
                    p.Type = Native.TypeInteger;
                    p.Integer = (bool)v ? 1 : 0;
                    return p;
                case TypeCode.SByte:
                case TypeCode.Byte:
                case TypeCode.Int16:
                case TypeCode.UInt16:
                case TypeCode.Int32:
                case TypeCode.UInt32:
                case TypeCode.Int64:
                    p.Type = Native.TypeInteger;
                    p.Integer = System.Convert.ToInt64(v, CultureInfo.InvariantCulture);
                    return p;
                case TypeCode.UInt64:
                    p.Type = Native.TypeInteger;
                    p.Integer = checked((long)(ulong)v);
                    return p;
                case TypeCode.Single:
                case TypeCode.Double:
                    p.Type = Native.TypeFloat;
                    p.Real = System.Convert.ToDouble(v, CultureInfo.InvariantCulture);
                    return p;
                case TypeCode.Decimal:
                    p.Type = Native.TypeText;
                    p.Text = ((decimal)v).ToString(CultureInfo.InvariantCulture);
                    return p;
                case TypeCode.Char:
                    p.Type = Native.TypeText;
                    p.Text = v.ToString();
                    return p;
                case TypeCode.DateTime:
                    p.Type = Native.TypeText;
                    p.Text = ((DateTime)v).ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);
                    return p;
            }
            if (v is DateTimeOffset)
            {
                p.Type = Native.TypeText;
                p.Text = ((DateTimeOffset)v).ToString("yyyy-MM-dd HH:mm:ss.FFFFFFFzzz", CultureInfo.InvariantCulture);
                return p;
            }
            if (v is TimeSpan)
            {
                p.Type = Native.TypeText;
                p.Text = ((TimeSpan)v).ToString("c", CultureInfo.InvariantCulture);
                return p;
            }
            if (v is Guid)
            {
                p.Type = Native.TypeBlob;
                p.Blob = ((Guid)v).ToByteArray();
                return p;
            }
            if (v is ArraySegment<byte>)
            {
                var seg = (ArraySegment<byte>)v;
                var copy = new byte[seg.Count];
                if (seg.Count > 0) Buffer.BlockCopy(seg.Array, seg.Offset, copy, 0, seg.Count);
                p.Type = Native.TypeBlob;
                p.Blob = copy;
                return p;
            }
            throw new ArgumentException("SingleWriter: parameter '" + what + "' has a value of type " +
                                        v.GetType().FullName + ", which cannot be bound (use a number, string, " +
                                        "byte[], bool, Guid, DateTime, DateTimeOffset, TimeSpan, enum or null)");
        }
    }
}
