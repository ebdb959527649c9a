using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("SingleWriter.Tests")]
