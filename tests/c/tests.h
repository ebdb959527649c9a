/* The list of tests, in the order they run. Each is a `void name(void)` in one of test_*.c. */
#ifndef SW_C_TESTS_H
#define SW_C_TESTS_H

#define SW_C_TESTS(X)                                                    \
    /* test_basics.c: version, open/close, writes */                     \
    X(abi_version_matches_header)                                        \
    X(status_str_describes_every_status)                                 \
    X(last_error_is_empty_after_success)                                 \
    X(open_plain_path_creates_database)                                  \
    X(open_accepts_microsoft_data_sqlite_keywords)                       \
    X(relative_and_absolute_paths_share_one_writer)                      \
    X(symlinked_path_shares_one_writer)                                  \
    X(unknown_keyword_is_invalid_argument_naming_it)                     \
    X(bad_option_value_is_invalid_argument_naming_it)                    \
    X(null_arguments_to_open_are_invalid_argument)                       \
    X(invalid_utf8_connection_string_is_invalid_utf8)                    \
    X(double_close_is_closed_not_a_crash)                                \
    X(use_after_close_is_closed)                                         \
    X(handle_closed_on_another_thread_is_closed_here)                    \
    X(second_open_with_different_option_is_invalid_argument_naming_it)   \
    X(memory_database_works)                                             \
    X(execute_binds_positional_params_of_every_type)                     \
    X(execute_binds_named_params_in_every_prefix_form)                   \
    X(rows_affected_and_last_insert_rowid_are_reported)                  \
    X(param_the_sql_lacks_is_invalid_argument_naming_it)                 \
    X(unbound_sql_parameter_is_invalid_argument)                         \
    X(unknown_value_type_is_invalid_argument)                            \
    X(invalid_utf8_text_param_is_invalid_utf8)                           \
    X(null_sql_is_invalid_argument)                                      \
    X(bad_sql_is_error_with_sqlite_message_and_code)                     \
    X(unique_violation_is_constraint_with_unique_in_message)             \
    X(transaction_control_statements_are_refused)                        \
    X(vacuum_and_pragma_run_alone_and_succeed)                           \
    X(multi_statement_sql_runs_all_or_nothing)                           \
    /* test_async.c: enqueue, batch, transactions */                     \
    X(enqueue_callback_fires_once_per_write_with_its_own_result)         \
    X(enqueue_with_null_callback_works)                                  \
    X(close_with_queued_writes_fires_every_callback_once)                \
    X(completion_callback_blocking_calls_are_misuse)                     \
    X(execute_if_idle_runs_on_an_idle_writer_and_declines_where_it_would_wait) \
    X(execute_or_enqueue_runs_on_an_idle_writer_and_otherwise_queues) \
    X(flush_returns_after_all_earlier_writes_are_acknowledged)           \
    X(transactional_batch_is_all_or_nothing)                             \
    X(non_transactional_batch_keeps_statements_before_the_failure)       \
    X(empty_batch_is_ok)                                                 \
    X(transaction_commits_and_sees_its_own_writes)                       \
    X(transaction_returning_rollback_keeps_nothing)                      \
    X(blocking_call_inside_transaction_is_misuse_and_it_still_commits)   \
    X(txn_used_after_its_callback_returned_is_misuse)                    \
    X(failed_statement_in_transaction_is_undone_and_the_rest_commits)    \
    X(nested_transaction_is_misuse)                                      \
    X(flush_times_out_while_the_lane_is_held)                            \
    X(full_queue_returns_queue_full_and_never_calls_back)                \
    X(null_handles_are_invalid_argument_not_a_crash)                     \
    /* test_reads.c: queries, rows, JSON, cache */                       \
    X(query_returns_rows_with_names_types_and_values)                    \
    X(write_through_query_is_readonly_and_changes_nothing)                \
    X(rows_to_json_renders_known_result_exactly)                         \
    X(read_cache_serves_hits_and_invalidates_on_writes_to_read_tables)   \
    X(read_cache_rows_stay_valid_after_invalidation)                     \
    X(invalidate_by_key_and_by_glob)                                     \
    X(execute_and_invalidate_drops_named_keys_after_commit)              \
    X(cache_stats_report_size_evictions_hot_and_expiry)                  \
    /* test_concurrency.c */                                             \
    X(many_threads_execute_and_every_ack_matches_the_database)           \
    X(mixed_enqueue_and_execute_threads_commit_in_submission_order)      \
    X(reads_see_every_write_acknowledged_before_they_started)            \
    /* test_signals.c: signals and stats */                              \
    X(poll_signals_filters_by_glob_oldest_first)                         \
    X(poll_signals_with_huge_or_invalid_patterns_does_not_crash)         \
    X(signal_ring_reports_missed_signals)                                \
    X(subscription_callbacks_run_on_another_thread_and_free_once)        \
    X(open_subscription_is_freed_once_when_writer_closes)                \
    X(blocking_call_in_signal_callback_is_misuse)                        \
    X(raised_cache_invalidate_signal_drops_matching_keys)                \
    X(writer_stats_count_committed_and_failed_writes)                    \
    X(operations_json_and_metrics_text_describe_recent_writes)           \
    /* test_crash.c */                                                   \
    X(crash_kill_keeps_every_acknowledged_write)                         \
    /* test_hostile.c: absurd sizes, blank SQL, bytes, conversions, fork */ \
    X(absurd_sizes_are_invalid_argument_not_an_abort)                    \
    X(huge_option_values_are_invalid_argument_naming_them)               \
    X(sql_without_a_statement_is_invalid_argument_on_every_entry_point)  \
    X(text_that_is_not_utf8_comes_back_as_its_bytes)                     \
    X(int64_and_double_convert_text_and_blobs_as_sqlite_does)            \
    X(fork_child_refuses_inherited_handles_and_opens_afresh)

#define SW_C_DECLARE(name) void name(void);
SW_C_TESTS(SW_C_DECLARE)
#undef SW_C_DECLARE

#endif /* SW_C_TESTS_H */
