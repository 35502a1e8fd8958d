/*
 * The baseline of bench/sql_latency.py: the least a C client does for one statement,
 * with the same library the daemon uses (MariaDB Connector/C, blocking API). Connects
 * once, then for every line read on stdin runs the statement given as argument
 * (mysql_real_query, mysql_store_result, every row fetched, mysql_free_result) and
 * prints the round trip in microseconds. Built by the benchmark script.
 *
 * usage: sql_client HOST PORT USER DATABASE STATEMENT
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT USER DATABASE STATEMENT\n", argv[0]);
        return 2;
    }
    MYSQL *my = mysql_init(NULL);
    if (my == NULL || mysql_real_connect(my, argv[1], argv[3], "", argv[4], (unsigned)atoi(argv[2]),
                                         NULL, 0) == NULL) {
        fprintf(stderr, "connect: %s\n", my != NULL ? mysql_error(my) : "mysql_init failed");
        return 1;
    }
    const char *sql = argv[5];
    char line[64];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        double start = now_us();
        if (mysql_real_query(my, sql, (unsigned long)strlen(sql)) != 0) {
            fprintf(stderr, "query: %s\n", mysql_error(my));
            return 1;
        }
        MYSQL_RES *res = mysql_store_result(my);
        if (res == NULL) {
            fprintf(stderr, "result: %s\n", mysql_error(my));
            return 1;
        }
        while (mysql_fetch_row(res) != NULL)
            ;
        mysql_free_result(res);
        printf("%.1f\n", now_us() - start);
        fflush(stdout);
    }
    mysql_close(my);
    return 0;
}
