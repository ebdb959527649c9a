using System;
using System.Collections;
using System.Data;
using System.Data.Common;

namespace SingleWriter
{
    /// <summary>
    /// A forward-only reader over a result set that the library already produced in full (reads
    /// never hold a read connection while the caller iterates). NULL reads as
    /// <see cref="DBNull.Value"/>; typed getters convert as <see cref="Rows.GetFieldValue{T}"/> does.
    /// Column types come from the values (SQLite's storage classes: long, double, string, byte[]),
    /// since the C ABI carries no declared types.
    /// </summary>
    public sealed class SingleWriterDataReader : DbDataReader
    {
        private Rows _rows;
        private readonly SingleWriterConnection _closeWith;
        private readonly int _count;
        private readonly int _fields;
        private int _row = -1;

        internal SingleWriterDataReader(Rows rows, SingleWriterConnection closeWith)
        {
            _rows = rows;
            _closeWith = closeWith;
            _count = rows.RowCount;
            _fields = rows.ColumnCount;
        }

        private Rows R
        {
            get
            {
                if (_rows == null) throw new InvalidOperationException("SingleWriter: the reader is closed.");
                return _rows;
            }
        }

        private int Row
        {
            get
            {
                var unused = R;
                if (_row < 0 || _row >= _count)
                    throw new InvalidOperationException("SingleWriter: no current row (call Read first).");
                return _row;
            }
        }

        /// <inheritdoc />
        public override bool Read()
        {
            var unused = R;
            if (_row < _count) _row++;
            return _row < _count;
        }

        /// <summary>Always false: a command returns one result set.</summary>
        public override bool NextResult()
        {
            _row = _count;
            return false;
        }

        /// <inheritdoc />
        public override void Close()
        {
            if (_rows == null) return;
            _rows.Dispose();
            _rows = null;
            if (_closeWith != null) _closeWith.Close();
        }

        /// <inheritdoc />
        protected override void Dispose(bool disposing)
        {
            if (disposing) Close();
            base.Dispose(disposing);
        }

        /// <inheritdoc />
        public override int Depth { get { return 0; } }

        /// <inheritdoc />
        public override int FieldCount { get { return _fields; } }

        /// <inheritdoc />
        public override bool HasRows { get { return _count > 0; } }

        /// <inheritdoc />
        public override bool IsClosed { get { return _rows == null; } }

        /// <summary>-1: a reader's statement is a query.</summary>
        public override int RecordsAffected { get { return -1; } }

        /// <inheritdoc />
        public override object this[int ordinal] { get { return GetValue(ordinal); } }

        /// <inheritdoc />
        public override object this[string name] { get { return GetValue(GetOrdinal(name)); } }

        /// <inheritdoc />
        public override string GetName(int ordinal) { return R.GetName(ordinal); }

        /// <summary>The column's index: an exact match first, then ignoring case.</summary>
        public override int GetOrdinal(string name)
        {
            var r = R;
            for (int i = 0; i < _fields; i++)
                if (string.Equals(r.GetName(i), name, StringComparison.Ordinal)) return i;
            for (int i = 0; i < _fields; i++)
                if (string.Equals(r.GetName(i), name, StringComparison.OrdinalIgnoreCase)) return i;
            throw new IndexOutOfRangeException("SingleWriter: no column named " + name);
        }

        private ColumnType StorageClass(int ordinal)
        {
            var r = R;
            if (ordinal < 0 || ordinal >= _fields) throw new IndexOutOfRangeException("SingleWriter: no column " + ordinal);
            if (_row >= 0 && _row < _count && !r.IsNull(_row, ordinal)) return r.GetColumnType(_row, ordinal);
            for (int i = 0; i < _count; i++)
                if (!r.IsNull(i, ordinal)) return r.GetColumnType(i, ordinal);
            return ColumnType.Null;
        }

        /// <summary>The column's type: that of the current row's value, or of the first non-NULL
        /// value (long, double, string, byte[]); object when every value is NULL.</summary>
        public override Type GetFieldType(int ordinal)
        {
            switch (StorageClass(ordinal))
            {
                case ColumnType.Integer: return typeof(long);
                case ColumnType.Float: return typeof(double);
                case ColumnType.Text: return typeof(string);
                case ColumnType.Blob: return typeof(byte[]);
                default: return typeof(object);
            }
        }

        /// <summary>INTEGER, REAL, TEXT, BLOB, or "" when every value is NULL.</summary>
        public override string GetDataTypeName(int ordinal)
        {
            switch (StorageClass(ordinal))
            {
                case ColumnType.Integer: return "INTEGER";
                case ColumnType.Float: return "REAL";
                case ColumnType.Text: return "TEXT";
                case ColumnType.Blob: return "BLOB";
                default: return "";
            }
        }

        /// <inheritdoc />
        public override bool IsDBNull(int ordinal) { return R.IsNull(Row, ordinal); }

        /// <summary>The value as long, double, string or byte[]; <see cref="DBNull.Value"/> for NULL.</summary>
        public override object GetValue(int ordinal)
        {
            int row = Row;
            return R.IsNull(row, ordinal) ? DBNull.Value : R.GetValue(row, ordinal);
        }

        /// <inheritdoc />
        public override int GetValues(object[] values)
        {
            int n = Math.Min(values.Length, _fields);
            for (int i = 0; i < n; i++) values[i] = GetValue(i);
            return n;
        }

        /// <summary>The value converted to <typeparamref name="T"/> (see
        /// <see cref="Rows.GetFieldValue{T}"/>); <see cref="DBNull"/> or object give DBNull.Value for NULL.</summary>
        public override T GetFieldValue<T>(int ordinal)
        {
            int row = Row;
            if ((typeof(T) == typeof(object) || typeof(T) == typeof(DBNull)) && R.IsNull(row, ordinal))
                return (T)(object)DBNull.Value;
            return R.GetFieldValue<T>(row, ordinal);
        }

        /// <inheritdoc />
        public override bool GetBoolean(int ordinal) { return R.GetBoolean(Row, ordinal); }

        /// <inheritdoc />
        public override byte GetByte(int ordinal) { return checked((byte)R.GetInt64(Row, ordinal)); }

        /// <inheritdoc />
        public override char GetChar(int ordinal)
        {
            var s = R.GetString(Row, ordinal);
            if (string.IsNullOrEmpty(s)) throw new InvalidCastException("SingleWriter: an empty value is not a char.");
            return s[0];
        }

        /// <inheritdoc />
        public override DateTime GetDateTime(int ordinal) { return R.GetFieldValue<DateTime>(Row, ordinal); }

        /// <inheritdoc />
        public override decimal GetDecimal(int ordinal) { return R.GetFieldValue<decimal>(Row, ordinal); }

        /// <inheritdoc />
        public override double GetDouble(int ordinal) { return R.GetDouble(Row, ordinal); }

        /// <inheritdoc />
        public override float GetFloat(int ordinal) { return (float)R.GetDouble(Row, ordinal); }

        /// <inheritdoc />
        public override Guid GetGuid(int ordinal) { return R.GetFieldValue<Guid>(Row, ordinal); }

        /// <inheritdoc />
        public override short GetInt16(int ordinal) { return checked((short)R.GetInt64(Row, ordinal)); }

        /// <inheritdoc />
        public override int GetInt32(int ordinal) { return R.GetInt32(Row, ordinal); }

        /// <inheritdoc />
        public override long GetInt64(int ordinal) { return R.GetInt64(Row, ordinal); }

        /// <inheritdoc />
        public override string GetString(int ordinal) { return R.GetString(Row, ordinal); }

        /// <inheritdoc />
        public override long GetBytes(int ordinal, long dataOffset, byte[] buffer, int bufferOffset, int length)
        {
            var b = R.GetBlob(Row, ordinal) ?? new byte[0];
            if (buffer == null) return b.Length;
            long n = Math.Max(0, Math.Min(length, b.Length - dataOffset));
            if (n > 0) Array.Copy(b, dataOffset, buffer, bufferOffset, n);
            return n;
        }

        /// <inheritdoc />
        public override long GetChars(int ordinal, long dataOffset, char[] buffer, int bufferOffset, int length)
        {
            var s = R.GetString(Row, ordinal) ?? "";
            if (buffer == null) return s.Length;
            int n = (int)Math.Max(0, Math.Min(length, s.Length - dataOffset));
            if (n > 0) s.CopyTo((int)dataOffset, buffer, bufferOffset, n);
            return n;
        }

        /// <inheritdoc />
        public override IEnumerator GetEnumerator() { return new DbEnumerator(this, false); }

        /// <summary>One row per column: ColumnName, ColumnOrdinal, DataType, DataTypeName,
        /// AllowDBNull and the other standard columns (sizes unknown: -1).</summary>
        public override DataTable GetSchemaTable()
        {
            var t = new DataTable("SchemaTable");
            t.Columns.Add("ColumnName", typeof(string));
            t.Columns.Add("ColumnOrdinal", typeof(int));
            t.Columns.Add("ColumnSize", typeof(int));
            t.Columns.Add("NumericPrecision", typeof(short));
            t.Columns.Add("NumericScale", typeof(short));
            t.Columns.Add("DataType", typeof(Type));
            t.Columns.Add("DataTypeName", typeof(string));
            t.Columns.Add("AllowDBNull", typeof(bool));
            t.Columns.Add("IsKey", typeof(bool));
            t.Columns.Add("IsUnique", typeof(bool));
            t.Columns.Add("IsReadOnly", typeof(bool));
            t.Columns.Add("BaseColumnName", typeof(string));
            for (int i = 0; i < _fields; i++)
            {
                var row = t.NewRow();
                row["ColumnName"] = GetName(i);
                row["ColumnOrdinal"] = i;
                row["ColumnSize"] = -1;
                row["NumericPrecision"] = DBNull.Value;
                row["NumericScale"] = DBNull.Value;
                row["DataType"] = GetFieldType(i);
                row["DataTypeName"] = GetDataTypeName(i);
                row["AllowDBNull"] = true;
                row["IsKey"] = false;
                row["IsUnique"] = false;
                row["IsReadOnly"] = true;
                row["BaseColumnName"] = GetName(i);
                t.Rows.Add(row);
            }
            return t;
        }
    }
}
