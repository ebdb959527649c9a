using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;

namespace SingleWriter
{
    /// <summary>The storage class of one value (the numbers are SQLite's).</summary>
    public enum ColumnType
    {
        /// <summary>64-bit integer.</summary>
        Integer = 1,
        /// <summary>64-bit float.</summary>
        Float = 2,
        /// <summary>UTF-8 text.</summary>
        Text = 3,
        /// <summary>Bytes.</summary>
        Blob = 4,
        /// <summary>SQL NULL.</summary>
        Null = 5,
    }

    /// <summary>
    /// An immutable result set, handed to the mapper of <see cref="SqliteSingleWriter.ReadAsync{T}(string, string, object, Func{Rows, T}, System.Threading.CancellationToken)"/>,
    /// <see cref="SqliteSingleWriter.QueryAsync{T}(string, object, Func{Rows, T}, System.Threading.CancellationToken)"/> and
    /// <see cref="SingleWriterTransaction.Query{T}(string, object, Func{Rows, T})"/>.
    /// It is valid only while the mapper runs (the native result is freed when it returns): copy
    /// what you need into your own types. Reading a <see cref="Rows"/> afterwards throws
    /// <see cref="ObjectDisposedException"/>. Not for concurrent use from several threads.
    /// </summary>
    public sealed unsafe class Rows : IEnumerable<Row>, IDisposable
    {
        private readonly RowsHandle _handle;
        private readonly int _rowCount;
        private readonly int _columnCount;
        private string[] _names;

        internal Rows(RowsHandle handle)
        {
            _handle = handle;
            IntPtr h = handle.DangerousGetHandle();
            _rowCount = checked((int)(ulong)Native.sw_rows_row_count(h));
            _columnCount = checked((int)(ulong)Native.sw_rows_column_count(h));
        }

        /// <summary>Frees the native result set. Called by the binding when the mapper returns.</summary>
        public void Dispose()
        {
            _handle.Dispose();
        }

        private IntPtr H
        {
            get
            {
                if (_handle.IsClosed)
                    throw new ObjectDisposedException("Rows",
                        "SingleWriter: a Rows is valid only inside the mapper it was passed to; copy the values you need.");
                return _handle.DangerousGetHandle();
            }
        }

        /// <summary>Number of rows.</summary>
        public int RowCount
        {
            get { return _rowCount; }
        }

        /// <summary>Number of rows (same as <see cref="RowCount"/>).</summary>
        public int Count
        {
            get { return _rowCount; }
        }

        /// <summary>Number of columns.</summary>
        public int ColumnCount
        {
            get { return _columnCount; }
        }

        /// <summary>The row at <paramref name="row"/>.</summary>
        public Row this[int row]
        {
            get
            {
                CheckRow(row);
                return new Row(this, row);
            }
        }

        /// <summary>The name of a column.</summary>
        public string GetName(int column)
        {
            CheckColumn(column);
            return Names()[column];
        }

        /// <summary>The index of the column named <paramref name="name"/> (exact match first, then
        /// case-insensitive); throws <see cref="IndexOutOfRangeException"/> if there is none.</summary>
        public int GetOrdinal(string name)
        {
            if (name == null) throw new ArgumentNullException("name");
            var names = Names();
            for (int i = 0; i < names.Length; i++)
                if (string.Equals(names[i], name, StringComparison.Ordinal)) return i;
            for (int i = 0; i < names.Length; i++)
                if (string.Equals(names[i], name, StringComparison.OrdinalIgnoreCase)) return i;
            throw new IndexOutOfRangeException("SingleWriter: no column named '" + name + "'");
        }

        private string[] Names()
        {
            if (_names == null)
            {
                var h = H;
                var names = new string[_columnCount];
                for (int i = 0; i < names.Length; i++)
                    names[i] = Utf8.FromNative(Native.sw_rows_column_name(h, (UIntPtr)(uint)i)) ?? string.Empty;
                _names = names;
            }
            return _names;
        }

        private void CheckRow(int row)
        {
            if ((uint)row >= (uint)_rowCount)
                throw new ArgumentOutOfRangeException("row", row, "SingleWriter: the result has " + _rowCount + " rows");
        }

        private void CheckColumn(int column)
        {
            if ((uint)column >= (uint)_columnCount)
                throw new ArgumentOutOfRangeException("column", column,
                    "SingleWriter: the result has " + _columnCount + " columns");
        }

        /// <summary>The storage class of one value.</summary>
        public ColumnType GetColumnType(int row, int column)
        {
            CheckRow(row);
            CheckColumn(column);
            return (ColumnType)Native.sw_rows_type(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column);
        }

        /// <summary>Whether the value is SQL NULL.</summary>
        public bool IsNull(int row, int column)
        {
            return GetColumnType(row, column) == ColumnType.Null;
        }

        private InvalidCastException NullValue(int row, int column)
        {
            return new InvalidCastException("SingleWriter: the value at row " + row + ", column " + column +
                                            " is NULL; check IsNull first or read it as a nullable type");
        }

        /// <summary>The value as a 64-bit integer (text is parsed, floats are truncated).</summary>
        public long GetInt64(int row, int column)
        {
            switch (GetColumnType(row, column))
            {
                case ColumnType.Integer:
                    return Native.sw_rows_int64(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column);
                case ColumnType.Float:
                    return (long)Native.sw_rows_double(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column);
                case ColumnType.Null:
                    throw NullValue(row, column);
                default:
                    return long.Parse(GetString(row, column), NumberStyles.Integer, CultureInfo.InvariantCulture);
            }
        }

        /// <summary>The value as a 32-bit integer (checked).</summary>
        public int GetInt32(int row, int column)
        {
            return checked((int)GetInt64(row, column));
        }

        /// <summary>The value as a boolean (non-zero is true).</summary>
        public bool GetBoolean(int row, int column)
        {
            return GetInt64(row, column) != 0;
        }

        /// <summary>The value as a double.</summary>
        public double GetDouble(int row, int column)
        {
            switch (GetColumnType(row, column))
            {
                case ColumnType.Float:
                    return Native.sw_rows_double(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column);
                case ColumnType.Integer:
                    return Native.sw_rows_int64(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column);
                case ColumnType.Null:
                    throw NullValue(row, column);
                default:
                    return double.Parse(GetString(row, column), NumberStyles.Float, CultureInfo.InvariantCulture);
            }
        }

        /// <summary>The value as text; null for SQL NULL. Numbers are formatted invariantly.</summary>
        public string GetString(int row, int column)
        {
            var h = H;
            var r = (UIntPtr)(uint)row;
            var c = (UIntPtr)(uint)column;
            switch (GetColumnType(row, column))
            {
                case ColumnType.Null:
                    return null;
                case ColumnType.Integer:
                    return Native.sw_rows_int64(h, r, c).ToString(CultureInfo.InvariantCulture);
                case ColumnType.Float:
                    return Native.sw_rows_double(h, r, c).ToString("R", CultureInfo.InvariantCulture);
                case ColumnType.Blob:
                {
                    UIntPtr len;
                    byte* p = Native.sw_rows_blob(h, r, c, out len);
                    return Utf8.FromNative(p, checked((int)(ulong)len));
                }
                default:
                {
                    UIntPtr len;
                    byte* p = Native.sw_rows_text(h, r, c, out len);
                    return Utf8.FromNative(p, checked((int)(ulong)len));
                }
            }
        }

        /// <summary>The value as bytes (text as its UTF-8 bytes); null for SQL NULL.</summary>
        public byte[] GetBlob(int row, int column)
        {
            var t = GetColumnType(row, column);
            if (t == ColumnType.Null) return null;
            if (t == ColumnType.Integer || t == ColumnType.Float)
                return Utf8.Encoding.GetBytes(GetString(row, column));
            UIntPtr len;
            byte* p = t == ColumnType.Blob
                ? Native.sw_rows_blob(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column, out len)
                : Native.sw_rows_text(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column, out len);
            var bytes = new byte[checked((int)(ulong)len)];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = p[i];
            return bytes;
        }

        /// <summary>The value as its natural .NET type: long, double, string, byte[] or null.</summary>
        public object GetValue(int row, int column)
        {
            switch (GetColumnType(row, column))
            {
                case ColumnType.Integer:
                    return Native.sw_rows_int64(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column);
                case ColumnType.Float:
                    return Native.sw_rows_double(H, (UIntPtr)(uint)row, (UIntPtr)(uint)column);
                case ColumnType.Text:
                    return GetString(row, column);
                case ColumnType.Blob:
                    return GetBlob(row, column);
                default:
                    return null;
            }
        }

        /// <summary>
        /// The value converted to <typeparamref name="T"/> (numbers, string, byte[], bool, enums,
        /// Guid, DateTime, DateTimeOffset, TimeSpan, decimal, and their nullable forms). SQL NULL
        /// gives null/default for reference and nullable types and throws for other value types.
        /// </summary>
        public T GetFieldValue<T>(int row, int column)
        {
            return (T)ConvertTo(typeof(T), row, column);
        }

        /// <summary>Same as <see cref="GetFieldValue{T}"/>.</summary>
        public T GetValue<T>(int row, int column)
        {
            return GetFieldValue<T>(row, column);
        }

        private object ConvertTo(Type t, int row, int column)
        {
            var under = Nullable.GetUnderlyingType(t);
            if (IsNull(row, column))
            {
                if (!t.IsValueType || under != null) return null;
                throw NullValue(row, column);
            }
            if (under != null) t = under;
            if (t == typeof(object)) return GetValue(row, column);
            if (t == typeof(string)) return GetString(row, column);
            if (t == typeof(byte[])) return GetBlob(row, column);
            if (t == typeof(long)) return GetInt64(row, column);
            if (t == typeof(int)) return GetInt32(row, column);
            if (t == typeof(double)) return GetDouble(row, column);
            if (t == typeof(bool)) return GetBoolean(row, column);
            if (t.IsEnum) return Enum.ToObject(t, GetInt64(row, column));
            if (t == typeof(Guid))
            {
                if (GetColumnType(row, column) == ColumnType.Blob) return new Guid(GetBlob(row, column));
                return Guid.Parse(GetString(row, column));
            }
            if (t == typeof(DateTime))
                return DateTime.Parse(GetString(row, column), CultureInfo.InvariantCulture, DateTimeStyles.None);
            if (t == typeof(DateTimeOffset))
                return DateTimeOffset.Parse(GetString(row, column), CultureInfo.InvariantCulture, DateTimeStyles.None);
            if (t == typeof(TimeSpan)) return TimeSpan.Parse(GetString(row, column), CultureInfo.InvariantCulture);
            if (t == typeof(decimal))
                return decimal.Parse(GetString(row, column), NumberStyles.Float, CultureInfo.InvariantCulture);
            return Convert.ChangeType(GetValue(row, column), t, CultureInfo.InvariantCulture);
        }

        /// <summary>The first column of the first row as its natural type, or null when there are no rows.</summary>
        public object Scalar()
        {
            return _rowCount == 0 || _columnCount == 0 ? null : GetValue(0, 0);
        }

        /// <summary>The first column of the first row converted to <typeparamref name="T"/>;
        /// default(T) when there are no rows.</summary>
        public T Scalar<T>()
        {
            return _rowCount == 0 || _columnCount == 0 ? default(T) : GetFieldValue<T>(0, 0);
        }

        /// <summary>The result as a JSON array of objects (the library's <c>sw_rows_to_json</c>).</summary>
        public string ToJson()
        {
            IntPtr json;
            uint st = Native.sw_rows_to_json(H, out json);
            if (st != 0) throw SingleWriterException.FromLastError(st);
            return Utf8.TakeNativeString(json);
        }

        /// <summary>Enumerates the rows.</summary>
        public IEnumerator<Row> GetEnumerator()
        {
            for (int i = 0; i < _rowCount; i++) yield return new Row(this, i);
        }

        IEnumerator IEnumerable.GetEnumerator()
        {
            return GetEnumerator();
        }
    }

    /// <summary>One row of a <see cref="Rows"/>; valid as long as the <see cref="Rows"/> is.</summary>
    public struct Row
    {
        private readonly Rows _rows;
        private readonly int _index;

        internal Row(Rows rows, int index)
        {
            _rows = rows;
            _index = index;
        }

        /// <summary>The row's index.</summary>
        public int Index
        {
            get { return _index; }
        }

        /// <summary>The value of a column as its natural type (long, double, string, byte[] or null).</summary>
        public object this[int column]
        {
            get { return _rows.GetValue(_index, column); }
        }

        /// <summary>The value of a named column as its natural type.</summary>
        public object this[string column]
        {
            get { return _rows.GetValue(_index, _rows.GetOrdinal(column)); }
        }

        /// <summary>See <see cref="Rows.IsNull"/>.</summary>
        public bool IsNull(int column) { return _rows.IsNull(_index, column); }
        /// <summary>See <see cref="Rows.IsNull"/>.</summary>
        public bool IsNull(string column) { return _rows.IsNull(_index, _rows.GetOrdinal(column)); }
        /// <summary>See <see cref="Rows.GetInt64"/>.</summary>
        public long GetInt64(int column) { return _rows.GetInt64(_index, column); }
        /// <summary>See <see cref="Rows.GetInt64"/>.</summary>
        public long GetInt64(string column) { return _rows.GetInt64(_index, _rows.GetOrdinal(column)); }
        /// <summary>See <see cref="Rows.GetInt32"/>.</summary>
        public int GetInt32(int column) { return _rows.GetInt32(_index, column); }
        /// <summary>See <see cref="Rows.GetInt32"/>.</summary>
        public int GetInt32(string column) { return _rows.GetInt32(_index, _rows.GetOrdinal(column)); }
        /// <summary>See <see cref="Rows.GetDouble"/>.</summary>
        public double GetDouble(int column) { return _rows.GetDouble(_index, column); }
        /// <summary>See <see cref="Rows.GetDouble"/>.</summary>
        public double GetDouble(string column) { return _rows.GetDouble(_index, _rows.GetOrdinal(column)); }
        /// <summary>See <see cref="Rows.GetString"/>.</summary>
        public string GetString(int column) { return _rows.GetString(_index, column); }
        /// <summary>See <see cref="Rows.GetString"/>.</summary>
        public string GetString(string column) { return _rows.GetString(_index, _rows.GetOrdinal(column)); }
        /// <summary>See <see cref="Rows.GetBlob"/>.</summary>
        public byte[] GetBlob(int column) { return _rows.GetBlob(_index, column); }
        /// <summary>See <see cref="Rows.GetBlob"/>.</summary>
        public byte[] GetBlob(string column) { return _rows.GetBlob(_index, _rows.GetOrdinal(column)); }
        /// <summary>See <see cref="Rows.GetFieldValue{T}"/>.</summary>
        public T Get<T>(int column) { return _rows.GetFieldValue<T>(_index, column); }
        /// <summary>See <see cref="Rows.GetFieldValue{T}"/>.</summary>
        public T Get<T>(string column) { return _rows.GetFieldValue<T>(_index, _rows.GetOrdinal(column)); }
    }
}
