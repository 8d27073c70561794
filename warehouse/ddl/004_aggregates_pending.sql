-- UTC partitions whose files a commit registered and whose aggregate days have not been
-- rebuilt since. Written in the commit's transaction, emptied in the rebuild's: a run killed
-- between the two leaves its days here, and the next rebuild (of any run) does them too.
create table if not exists aggregates_pending (
    event_date date primary key
);
